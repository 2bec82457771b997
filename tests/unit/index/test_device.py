"""The embedding device setting: `cuda` is refused by name where onnxruntime has no CUDA provider
(this machine's CPU build), rather than silently running on the CPU."""

from __future__ import annotations

import onnxruntime
import pytest

from infra_assets.index.embedding import Embedder, ModelError, cuda_providers
from infra_assets.settings import Settings, SettingsError


@pytest.mark.skipif("CUDAExecutionProvider" in onnxruntime.get_available_providers(), reason="a GPU build")
def test_cuda_without_the_provider_names_the_extra():
    with pytest.raises(ModelError, match=r"infra-assets\[gpu\]"):
        cuda_providers()
    with pytest.raises(ModelError, match="CUDA provider"):
        Embedder(device="cuda")


def test_the_device_comes_from_the_environment_and_is_checked(tmp_path):
    assert Settings.from_env({}, root=tmp_path).embed_device == "cpu"
    assert Settings.from_env({"INFRA_ASSETS_EMBED_DEVICE": "cuda"}, root=tmp_path).embed_device == "cuda"
    with pytest.raises(SettingsError, match="INFRA_ASSETS_EMBED_DEVICE"):
        Settings.from_env({"INFRA_ASSETS_EMBED_DEVICE": "tpu"}, root=tmp_path)
    with pytest.raises(ModelError, match="tpu"):
        Embedder(device="tpu")
