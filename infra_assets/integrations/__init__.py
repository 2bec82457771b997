"""Retrievers for the frameworks apps are already written in: `langchain` (LangChain's
`BaseRetriever`, extra `[langchain]`) and `llamaindex` (LlamaIndex's `BaseRetriever`, extra
`[llamaindex]`). Both ask the serving API (`url=`, `api_key=`) or, with `data_dir=`, search the
published index in this process; both take `/search`'s filters and give each passage's score."""
