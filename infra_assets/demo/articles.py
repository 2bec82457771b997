"""Hand-written articles for the demo site: one distinct topic each, written for this project.

Each entry is (slug, title, query, text). Paragraphs are separated by blank lines; line breaks
inside a paragraph are only for the source's line length. `query` is a question a reader might
type whose best answer on the site is that article, phrased without copying the title.
"""

ARTICLES: list[tuple[str, str, str, str]] = [
    (
        "sourdough-fermentation",
        "How a Sourdough Starter Raises Bread",
        "why does sourdough bread rise without commercial yeast",
        """
        A sourdough starter is a stable community of wild yeasts and lactic acid bacteria
        living in a paste of flour and water. Bakers keep it alive by discarding part of
        it and feeding the rest with fresh flour and water, often once or twice a day.
        Each feeding gives the microbes new starch and sugar to work on, and within a few
        hours the starter bubbles and doubles.

        The yeasts do the lifting. They ferment sugars into carbon dioxide and a little
        alcohol, and the gas is trapped by the stretchy gluten network formed when wheat
        proteins are wetted and worked. The bacteria, mostly lactobacilli, produce lactic
        and acetic acids. Those acids give sourdough its tang, lower the pH enough to keep
        spoilage organisms out, and slow the staling of the finished loaf.

        Temperature steers the balance. A warm starter around 26 to 28 degrees Celsius
        ferments quickly and tends toward a mild, yogurt-like sourness dominated by lactic
        acid. A cool starter works slowly and builds more acetic acid, which tastes
        sharper and more vinegary. Stiff starters with little water also lean acetic,
        while runny ones lean lactic.

        Because wild fermentation is slower than a packet of baker's yeast, a sourdough
        loaf often rises for many hours, sometimes overnight in a refrigerator. That long,
        cool proof lets enzymes break down more of the flour, which deepens flavour and
        browning. It also explains why bakers watch the dough rather than the clock: a
        poke that springs back slowly is a better guide than any recipe's timing.
        """,
    ),
    (
        "lighthouse-maintenance",
        "Keeping a Lighthouse Lit",
        "what work did keepers do to keep the lamp and lens of a coastal light working",
        """
        Before automation, a lighthouse depended on the daily routine of its keepers.
        Every morning they trimmed the wicks of the oil lamps, which is why keepers were
        nicknamed wickies, and refilled the reservoirs with whale oil, colza oil or later
        kerosene. Soot was the constant enemy: a blackened chimney or a smoky lens could
        cut the light's range dramatically.

        The heart of many lights was a Fresnel lens, a beehive of glass prisms that bends
        and reflects the lamp's light into a concentrated horizontal beam. The lens was
        polished by hand with soft cloth and spirits, and during the day keepers drew
        linen curtains around the lantern room so that sunlight focused by the prisms
        could not scorch anything inside.

        Many lights also had to flash in a pattern so sailors could tell one station from
        another. The lens rested on a turntable driven by a clockwork weight that slowly
        descended through the tower. Keepers wound the weight back up every few hours
        through the night, and a light that stopped turning or showed the wrong character
        was a serious failure to report.

        Modern lighthouses run on electric lamps or LED arrays with automatic lamp
        changers, photocells that switch the light on at dusk, and remote monitoring.
        Maintenance crews still visit to repaint the tower against salt spray, repair
        storm damage and clean the glass, but the nightly vigil of winding, trimming and
        polishing has ended.
        """,
    ),
    (
        "honeybee-waggle-dance",
        "The Honeybee Waggle Dance",
        "how do bees tell each other where flowers are",
        """
        When a forager honeybee finds a rich patch of flowers, she returns to the hive and
        performs a waggle dance on the vertical surface of the comb. She runs a short
        straight line while shaking her abdomen from side to side, then loops back to the
        start, alternating left and right loops, and repeats the run many times while
        nestmates crowd around her.

        The angle of the straight run encodes direction. Inside the dark hive, straight up
        the comb stands for the direction of the sun. A run angled forty degrees to the
        right of vertical tells recruits to fly forty degrees to the right of the sun's
        bearing. Because the sun moves across the sky, dancers gradually adjust the angle
        over the course of the day.

        The length of the waggle run encodes distance: the longer the waggling lasts, the
        farther the food. The bees appear to measure distance by optic flow, the amount of
        visual motion they experience on the outbound flight, rather than by energy spent.
        For food very close to the hive, bees perform a round dance that says little more
        than search nearby.

        Recruits also learn the scent of the flowers from the dancer's body and from
        nectar samples she shares. Dances for better sources are repeated more vigorously,
        so the colony effectively votes with its feet, sending more foragers to the most
        rewarding patches without any single bee comparing the options.
        """,
    ),
    (
        "roman-concrete",
        "Why Roman Concrete Lasted",
        "what made ancient roman harbour walls and domes so durable",
        """
        Roman builders made concrete from lime, water and volcanic ash, then packed it
        around chunks of rock or broken brick. The ash most prized came from the region
        around the Bay of Naples and was later called pozzolana. Mixed with lime, it
        reacts to form strong binding minerals even under water, which let the Romans
        build harbour piers straight into the sea.

        Studies of ancient marine structures found a surprise: seawater percolating
        through the concrete slowly grew new crystals such as aluminous tobermorite and
        phillipsite inside the pores. Instead of weakening the material, centuries of
        wetting continued to knit it together, while modern Portland cement concrete in
        seawater tends to corrode and crack.

        Another clue lies in the small white lumps of lime scattered through many Roman
        samples. Researchers have argued that these came from hot mixing with quicklime,
        and that they act as reservoirs: when a crack lets water in, dissolved calcium
        from the lumps can recrystallise as calcium carbonate and seal the crack, a form
        of self-healing.

        Roman concrete was not stronger than modern concrete in compression, and it was
        never reinforced with steel. Its longevity came from chemistry that kept working
        over time and from designs such as arches and domes that kept the material in
        compression. The dome of the Pantheon, still standing after nearly two thousand
        years, even uses lighter aggregate toward the top to reduce the load.
        """,
    ),
    (
        "tide-pool-life",
        "Life in a Rocky Tide Pool",
        "which animals survive in pools left on the shore when the sea goes out",
        """
        A tide pool is a basin in rock that keeps its water when the tide falls. Twice a
        day its residents are cut off from the ocean, and in those hours the pool can warm
        in the sun, grow saltier as water evaporates, or turn brackish in rain. Oxygen can
        swing from supersaturated in daylight, when seaweeds photosynthesise, to scarce at
        night.

        Animals here are specialists in endurance. Sea anemones close into jelly-like
        blobs to hold moisture. Mussels and barnacles seal their shells tight and wait.
        Periwinkles and limpets clamp onto rock, and limpets return to the same scar on
        the rock, worn to the exact outline of their shell, which helps them seal out
        drying air.

        Pools sort life into bands. High pools, flooded only by the biggest tides, hold
        hardy snails and algae that tolerate wild temperature changes. Low pools,
        submerged most of the time, host sea stars, urchins, sculpins and delicate red
        algae. Predation shapes the community as much as physical stress: in some shores,
        removing a single predatory sea star lets mussels crowd out dozens of other
        species.

        Visitors can help by stepping only on bare rock, turning stones back over exactly
        as they were found, and never prying animals off surfaces. A limpet torn from its
        scar or an anemone left exposed on its back may not survive until the water
        returns.
        """,
    ),
    (
        "hot-composting",
        "Hot Composting in a Backyard Pile",
        "how do I get my garden compost heap to heat up and break down quickly",
        """
        Hot composting builds a pile big enough, usually at least one cubic metre, for
        microbial activity to raise its internal temperature to between 55 and 65 degrees
        Celsius. At those temperatures thermophilic bacteria break material down quickly,
        and most weed seeds and plant pathogens are killed.

        The recipe balances carbon and nitrogen. Browns such as dry leaves, straw and
        shredded cardboard supply carbon; greens such as grass clippings, vegetable scraps
        and fresh manure supply nitrogen. A mix of roughly two to three parts brown to one
        part green by volume usually works. Too much green turns the heap slimy and smelly
        with ammonia; too much brown and it barely warms.

        Water and air matter as much as ingredients. The pile should feel like a wrung-out
        sponge. Turning it every few days moves the cooler outer material into the hot
        core and lets fresh oxygen in, because the heat-loving microbes are aerobic. A
        compost thermometer shows when the core temperature drops, which is the signal to
        turn again.

        After several weeks of heating and turning, the pile cools and enters a curing
        phase in which fungi, worms and other organisms finish the job. Finished compost
        is dark, crumbly and smells of forest soil. Curing for a month or two before use
        keeps immature compost from tying up nitrogen around young plants.
        """,
    ),
    (
        "glacial-valleys",
        "How Glaciers Carve U-Shaped Valleys",
        "why do mountain valleys shaped by ice have flat floors and steep sides",
        """
        A river cutting down through mountains makes a narrow V-shaped valley, because
        water erodes mainly along its channel while slopes collapse inward. When a glacier
        fills the same valley, it erodes the entire cross-section it touches, grinding the
        sides and floor at once and widening the valley into a U shape with a broad floor
        and steep walls.

        Glaciers erode in two main ways. Plucking happens when meltwater freezes into
        cracks in the bedrock and the moving ice pulls loosened blocks away. Abrasion
        happens when rocks frozen into the base of the ice scrape across the bedrock like
        sandpaper, leaving parallel scratches called striations that show the direction
        the ice moved.

        Side glaciers, being smaller, cannot cut down as deeply as the main trunk glacier.
        When the ice melts, their valleys are left perched high on the wall of the main
        valley, and streams pour out of them as waterfalls. These hanging valleys are a
        signature of glaciated landscapes, along with bowl-shaped cirques at valley heads
        and sharp ridges called arêtes.

        Where glaciers reached the sea and carved below sea level, the drowned valleys
        became fjords. Their depth can exceed the height of the surrounding mountains, and
        a shallower sill near the mouth often marks where the glacier's snout once stood
        and eroded less.
        """,
    ),
    (
        "bicycle-derailleur-gears",
        "How Bicycle Derailleur Gears Work",
        "what happens when I shift gears on a road bike chain",
        """
        A derailleur bicycle changes gear by physically pushing the chain from one
        sprocket to another while the pedals turn. The front derailleur moves the chain
        between chainrings attached to the cranks, and the rear derailleur moves it across
        a cassette of sprockets on the rear wheel. The rear derailleur also carries a
        spring-loaded cage with two small pulleys that takes up slack chain.

        Gear ratio is the number of teeth on the front ring divided by the number on the
        rear sprocket. A large ring with a small sprocket gives a high gear: each pedal
        stroke turns the wheel many times, which suits fast riding on the flat. A small
        ring with a large sprocket gives a low gear that makes climbing easier at the cost
        of speed.

        Shifting only works while the chain moves, because the cage nudges the chain
        sideways and the next sprocket's shaped teeth and ramps catch it. Shifting under
        heavy load, such as mid-climb while standing on the pedals, makes the chain grind
        and can snap it, so riders ease off for a moment as they shift.

        Riders are also advised to avoid cross-chaining, such as the largest ring with the
        largest sprocket. The chain then runs at a steep angle, wearing the teeth faster
        and increasing friction and noise. Most of those combinations duplicate ratios
        available in straighter chain lines anyway.
        """,
    ),
    (
        "cast-iron-seasoning",
        "Seasoning a Cast Iron Pan",
        "how does oil baked onto an iron skillet make it nonstick",
        """
        Seasoning is a thin, hard coating of polymerised oil bonded to the surface of cast
        iron. When a thin film of fat is heated well past its smoke point, its unsaturated
        fatty acids oxidise and cross-link into a tough plastic-like layer. Each
        additional coat builds on the last, and a well-used pan develops a smooth, black,
        slick surface.

        The key is thin layers. Wipe a small amount of oil over the whole pan, then wipe
        it off again as though you made a mistake; what remains is enough. Thick layers
        stay sticky and can bead or flake. Bake the pan upside down in an oven at around
        230 to 250 degrees Celsius for an hour, let it cool, and repeat several times for
        a new or stripped pan.

        Oils rich in unsaturated fats, such as flaxseed, canola or vegetable shortening,
        polymerise readily. Everyday cooking also seasons the pan, especially shallow
        frying and searing. Acidic foods simmered for a long time, like tomato sauce, can
        strip seasoning, so a new pan is best used for fatty dishes first.

        Modern seasoning tolerates a little dish soap, because polymerised oil is not
        ordinary grease. What harms it is soaking, the dishwasher, and leaving the pan
        wet, which invites rust. Dry it on a warm burner and wipe on a whisper of oil
        before storing.
        """,
    ),
    (
        "coral-bleaching",
        "Why Corals Bleach",
        "what makes a reef turn white when the ocean gets too warm",
        """
        Reef-building corals live in partnership with single-celled algae called
        zooxanthellae that reside inside the coral's tissue. The algae photosynthesise and
        pass most of the sugars they make to the coral, supplying much of its energy. In
        return they receive shelter, carbon dioxide and nutrients. The algae also give
        corals much of their brown, green or golden colour.

        When water stays even one or two degrees Celsius above the usual summer maximum
        for several weeks, the partnership breaks down. Heat and strong light damage the
        algae's photosynthetic machinery, which starts producing harmful reactive oxygen
        compounds. The coral expels the algae, and its tissue becomes transparent,
        revealing the white limestone skeleton beneath.

        A bleached coral is not yet dead, but it is starving. If temperatures fall soon
        enough, the coral can regain algae from the surrounding water or from the few
        cells that remained, and recover over months. If the heat persists, the coral dies
        and its skeleton is soon covered by turf algae.

        Scientists track heat stress with degree heating weeks, a measure combining how
        far temperatures rise above the normal maximum and how long they stay there. Mass
        bleaching events, once rare, have become frequent as ocean temperatures climb,
        leaving reefs less time to recover between events.
        """,
    ),
    (
        "octopus-camouflage",
        "How an Octopus Changes Colour",
        "how can a cephalopod match its background so fast",
        """
        An octopus can change the colour, pattern and even texture of its skin in a
        fraction of a second. The speed comes from the fact that its colour change is
        directly controlled by the nervous system, not by slow hormones. Muscles around
        tiny pigment sacs called chromatophores stretch them open to show their colour or
        relax to hide it.

        Chromatophores hold yellow, red, brown or black pigments, and there can be
        hundreds per square millimetre. Beneath them lie reflecting cells: iridophores
        produce shimmering blues and greens by interference of light, and leucophores
        scatter all wavelengths to give white that takes on the colour of ambient light.
        Layered together they create a huge palette.

        Texture is the other half of the trick. Octopuses can raise small bumps and spikes
        called papillae, making smooth skin look like rough rock or branching seaweed.
        Combined with body postures, such as flattening against a surface or holding arms
        like fronds, they can vanish against a reef within moments.

        Curiously, octopuses appear to have only one type of light receptor and so are
        thought to be colour-blind in the usual sense. How they match colours remains an
        active question. Proposals include light-sensing proteins in the skin itself and
        the unusual shapes of their pupils, which might let them exploit colour fringes in
        the image.
        """,
    ),
    (
        "tardigrade-survival",
        "Tardigrades and the Tun State",
        "how do water bears survive drying out completely",
        """
        Tardigrades are eight-legged animals usually less than a millimetre long, found in
        moss, lichen, soil, fresh water and the sea. Their nickname water bears comes from
        their lumbering walk. Many species live in films of water on moss and must cope
        with that film disappearing whenever the weather turns dry.

        As they dry, many tardigrades pull in their legs and head and contract into a
        barrel-shaped form called a tun. Their metabolism falls to an undetectable level,
        a state known as anhydrobiosis. In this condition some individuals have revived
        after years, and tuns have survived extreme cold, vacuum and radiation doses far
        above those that kill most animals.

        Several molecular tools help. Some tardigrades accumulate the sugar trehalose, and
        many produce intrinsically disordered proteins that form a glass-like matrix as
        the cell dries, holding other molecules in place so they do not unfold or clump.
        One protein, called Dsup, binds to DNA and reduces damage from radiation and
        reactive oxygen.

        Tardigrades are hardy rather than indestructible. Active, hydrated tardigrades are
        fairly delicate, the tun must form slowly enough to prepare, and long exposure to
        heat kills them. Their resilience has inspired research into preserving vaccines
        and other biological materials without refrigeration.
        """,
    ),
    (
        "piano-tuning",
        "Tuning a Piano by Ear",
        "how does a technician adjust the strings of an upright or grand so it sounds in tune",
        """
        A piano has more than two hundred strings, because most notes use two or three
        strings sounding together. Each string is wrapped around a tuning pin set tightly
        into a laminated wooden pinblock. The tuner turns the pin with a tuning lever in
        tiny movements, changing the string's tension and so its pitch, then sets the pin
        so it holds.

        Tuners begin by setting a temperament octave in the middle of the keyboard,
        usually from a reference A at 440 hertz. In equal temperament every semitone is
        the same ratio, which means fifths are slightly narrow and major thirds noticeably
        wide compared with pure intervals. The tuner listens to the beats, the slow
        pulsing heard when two close frequencies interfere, and sets each interval to beat
        at a particular rate.

        Piano strings are stiff, so their overtones are slightly sharper than exact
        multiples of the fundamental, an effect called inharmonicity. To sound in tune
        with each other across the keyboard, the high notes are tuned a little sharp and
        the low notes a little flat, a pattern known as stretch tuning. Small pianos with
        short strings need more stretch.

        Finally the unisons are tuned: the second and third strings of each note are
        brought into exact agreement with the first until the beating disappears. Felt
        mutes silence the neighbouring strings while the tuner works. Seasonal changes in
        humidity swell and shrink the soundboard, which is why pianos drift and need
        tuning once or twice a year.
        """,
    ),
    (
        "bird-migration-navigation",
        "How Migrating Birds Find Their Way",
        "what senses do songbirds use to navigate thousands of kilometres at night",
        """
        Many songbirds migrate at night, travelling thousands of kilometres between
        breeding and wintering grounds, and some return to the same garden year after
        year. They use several compasses, cross-checking one against another, and the
        combination makes their navigation remarkably robust.

        Young birds learn a star compass. Experiments in planetariums showed that
        nestlings watch the rotation of the night sky and learn that the region around the
        celestial pole stays still; later they use that point to find north. Birds also
        use the sun's position, corrected for the time of day by their internal clock, and
        the pattern of polarised light in the sky around sunset.

        Birds sense Earth's magnetic field too. Their magnetic compass responds to the
        inclination of field lines, not their polarity, so it tells the bird whether it is
        heading poleward or equatorward. A leading hypothesis places the sensor in the
        eye, in light-sensitive proteins called cryptochromes whose chemical reactions are
        influenced by weak magnetic fields.

        Compass senses give direction, but finding a specific place also requires a map.
        Older, experienced birds correct for being displaced off course, while first-time
        migrants often simply keep flying in their inherited direction. Landmarks such as
        coastlines and mountain ranges, and possibly smells and infrasound, help birds
        home in on the last stretch.
        """,
    ),
    (
        "tea-oxidation",
        "Green, Oolong and Black Tea From One Plant",
        "what processing makes leaves from the same bush into different kinds of tea",
        """
        Green, oolong and black teas all come from the leaves of the same species,
        Camellia sinensis. The difference lies mostly in how much the leaves are allowed
        to oxidise after picking. When leaf cells are damaged, enzymes such as polyphenol
        oxidase react with the leaf's catechins, turning them into darker compounds with
        fuller, maltier flavours.

        For green tea, producers stop oxidation early by heating the fresh leaves. Chinese
        green teas are typically pan-fired in hot woks, while Japanese teas are usually
        steamed. The heat denatures the enzymes, preserving the fresh, grassy character
        and the green colour. The leaves are then rolled and dried.

        Black tea is made by withering the leaves until they are limp, then rolling or
        cutting them to break the cells, and leaving them to oxidise fully before drying.
        The catechins turn into theaflavins and thearubigins, which give the brew its
        red-brown colour and brisk, astringent taste. Much tea for bags is made by the
        crush, tear, curl method, which produces small granules that brew quickly.

        Oolong sits in between. Its leaves are withered and gently bruised, often by
        tossing them in bamboo baskets, so that oxidation begins at the edges, and then it
        is stopped by firing somewhere between lightly and heavily oxidised. Careful
        rolling and repeated roasting give many oolongs their floral or toasty complexity.
        """,
    ),
    (
        "sundial-timekeeping",
        "Reading Time From a Sundial",
        "why does the shadow clock in the garden disagree with my watch",
        """
        A sundial tells time from the direction of a shadow cast by a straight edge called
        the gnomon. For a dial to work throughout the year, the gnomon must point at the
        celestial pole, parallel to Earth's axis, which means it is tilted at an angle
        equal to the local latitude. Then the sun's daily motion sweeps the shadow around
        at a steady rate.

        A sundial shows apparent solar time, which is rarely the same as the time on a
        watch. The first correction is longitude: clocks keep the time of a reference
        meridian for their whole time zone, so a dial east or west of that meridian runs
        fast or slow by four minutes for each degree of difference. Daylight saving time
        adds another hour in summer.

        The second correction is the equation of time. Because Earth's orbit is elliptical
        and its axis is tilted, the sun runs up to about sixteen minutes fast in early
        November and about fourteen minutes slow in February compared with a perfectly
        uniform clock. Many dials carry a small table or a figure-eight curve called an
        analemma showing the correction by date.

        With both corrections applied, a well-made, correctly oriented sundial can agree
        with a watch to within a minute or two. Vertical dials on walls work on the same
        principle, but their hour lines are laid out differently depending on which way
        the wall faces.
        """,
    ),
    (
        "beaver-dams",
        "How Beavers Build Dams",
        "why do these rodents block streams with sticks and mud",
        """
        Beavers build dams to create deep, still ponds. Deep water protects the entrance
        to their lodge from predators, lets them move logs by floating them, and stays
        unfrozen beneath the ice in winter so they can reach the store of branches they
        sink near the lodge as a food cache. The pond is the point; the dam is just the
        means.

        Construction often begins with sticks pushed into the streambed and laid with
        their cut ends pointing upstream, then packed with mud, stones and plant matter.
        Beavers are triggered to build by the sound and feel of running water: in
        experiments, a loudspeaker playing the sound of flowing water was enough to get
        beavers piling sticks over it.

        A beaver's incisors grow continuously and have a hard orange front layer of enamel
        containing iron, with softer dentine behind. As the softer layer wears faster, the
        teeth stay sharp like a self-sharpening chisel, letting a beaver fell a small tree
        in a single night.

        Beaver ponds reshape whole landscapes. They slow floods, recharge groundwater,
        trap sediment and create wetlands used by fish, amphibians, birds and insects.
        Because of these benefits, some river restoration projects now reintroduce beavers
        or build simple beaver-style structures to bring water back to degraded streams.
        """,
    ),
    (
        "papermaking-by-hand",
        "Making Paper by Hand",
        "how is a sheet formed from plant fibres using a mould and deckle",
        """
        Paper is a mat of plant fibres, mostly cellulose, bonded together as water drains
        away and the sheet dries. Traditional papermakers in Europe used cotton and linen
        rags, beating them in water until the fibres separated and frayed. Fraying
        matters: the loose microfibrils form hydrogen bonds with neighbouring fibres,
        which is what holds a sheet together without glue.

        The papermaker dips a mould, a wooden frame covered with fine wire mesh, into a
        vat of fibre suspended in water, with a removable frame called the deckle sitting
        on top to contain the pulp. Lifting the mould out level and giving it a gentle
        shake settles the fibres into an even layer and interlocks them. The deckle's edge
        leaves the characteristic feathered deckle edge on handmade sheets.

        The wet sheet is turned out onto a felt in a step called couching, then a stack of
        sheets and felts is pressed to squeeze out water. Sheets are dried, and for
        writing paper they were often sized with gelatine so ink would not bleed.
        Watermarks come from wire designs sewn onto the mould, which make the paper
        slightly thinner where they sit.

        In East Asia, papermakers use long inner bark fibres from plants such as kozo, a
        kind of mulberry. The fibres are kept long and a plant mucilage is added to the
        vat to slow drainage, allowing the maker to build the sheet up in many thin
        layers. The result is thin but remarkably strong paper used for books, screens and
        conservation repairs.
        """,
    ),
    (
        "rainbow-optics",
        "Where Rainbows Come From",
        "why does sunlight through rain drops make a coloured arc in the sky",
        """
        A rainbow appears when sunlight enters falling raindrops, reflects once off the
        back of each drop and comes back out toward the observer. Light slows and bends as
        it enters the water, and again as it leaves. Because different wavelengths bend by
        slightly different amounts, the colours separate, with red emerging at a slightly
        larger angle than violet.

        For the primary bow the light leaving the drops is concentrated at about 42
        degrees from the antisolar point, the spot directly opposite the sun, which is
        where the shadow of your head falls. Every drop at that angle from your eye sends
        you the colours, so you see a circle centred on the antisolar point. Because that
        point is below the horizon when the sun is up, you usually see only an arc, and
        rainbows cannot appear when the sun is higher than about 42 degrees.

        A fainter secondary bow sometimes appears outside the first, at around 51 degrees,
        produced by light reflecting twice inside each drop. Its colour order is reversed,
        with red on the inside. The sky between the two bows looks noticeably darker, a
        band named after Alexander of Aphrodisias, because no light from single or double
        reflections is sent there.

        Each observer sees a personal rainbow made by a different set of drops, which is
        why you can never reach its end. Faint pastel bands just inside the primary bow,
        called supernumerary arcs, arise from interference between light paths and are
        brightest when drops are small and similar in size.
        """,
    ),
    (
        "sea-ice-formation",
        "How Sea Ice Forms",
        "what happens when the ocean surface freezes in polar winter",
        """
        Seawater freezes at about minus 1.8 degrees Celsius, lower than fresh water
        because of its dissolved salt. Cooling seawater also becomes denser, so the
        surface layer sinks and mixes with water below, and the whole upper layer must
        cool to the freezing point before ice can form. That is one reason the sea freezes
        later in autumn than nearby lakes.

        Ice first appears as frazil, tiny needles and platelets of ice suspended in the
        water. In calm conditions they freeze together into a thin elastic sheet called
        nilas, which bends over waves. In rough water the crystals clump into a soupy
        layer of grease ice and then into rounded pancakes with raised rims from bumping
        into one another.

        As the ice freezes, salt is mostly excluded from the crystals and collects as
        concentrated brine in small channels and pockets. Over time the brine drains
        downward, so older ice is fresher; multi-year ice can be melted for drinking
        water. Dense brine sinking from the ice helps drive the formation of deep water
        masses that feed global ocean circulation.

        Wind and currents keep the pack moving. Where floes collide, they pile into
        pressure ridges that can extend many metres below the surface, and where they pull
        apart, leads of open water appear and rapidly freeze over, releasing heat to the
        atmosphere.
        """,
    ),
    (
        "mycorrhizal-networks",
        "Fungi That Feed Tree Roots",
        "how do mushrooms underground help forests share nutrients",
        """
        Most land plants live in partnership with mycorrhizal fungi, whose threadlike
        hyphae grow into or around the plant's roots and spread far out into the soil. The
        hyphae are much finer than roots and can explore a far larger volume of soil,
        absorbing water, phosphorus, nitrogen and trace elements. In exchange the plant
        supplies the fungus with sugars from photosynthesis.

        There are two main kinds. Arbuscular mycorrhizal fungi penetrate root cells and
        form branched structures called arbuscules where exchange takes place; they
        partner with most herbs, grasses and many tropical trees. Ectomycorrhizal fungi
        wrap roots in a sheath and grow between cells; they partner with pines, oaks,
        birches and other temperate trees, and many of them produce familiar forest
        mushrooms such as chanterelles and boletes.

        Because one fungus can connect to several plants and one plant to several fungi,
        roots can be linked in common mycorrhizal networks. Experiments with labelled
        carbon have shown that some material can move between plants through these links,
        although how much, and whether it benefits seedlings in real forests, is debated
        among researchers.

        Mycorrhizae matter in practice. Tilling, heavy phosphorus fertiliser and
        fungicides can reduce them, and seedlings planted into degraded land sometimes
        grow far better when the right fungi are present. Foresters and restoration
        ecologists increasingly consider the fungal partner when planting.
        """,
    ),
    (
        "stained-glass-windows",
        "How Stained Glass Windows Are Made",
        "how do craftsmen assemble coloured glass pieces held together with lead",
        """
        The colours in traditional stained glass come mostly from metal oxides melted into
        the glass itself. Copper gives green or, under reducing conditions, ruby red;
        cobalt gives deep blue; manganese gives purple; and gold produces a costly pink.
        Because ruby glass made with copper was so dark, medieval glassmakers often
        flashed a thin red layer onto clear glass.

        A window begins as a full-size drawing called a cartoon, which shows every piece
        and the lead lines between them. Glaziers cut each piece by scoring the glass and
        snapping it along the score, then trim the edges with grozing pliers. Details such
        as faces, hands and drapery folds are painted onto the glass in a dark vitreous
        paint and fired in a kiln so the paint fuses to the surface.

        From the fourteenth century, painters also used silver stain: a silver compound
        applied to clear glass and fired turns it yellow to amber. This allowed golden
        hair and crowns on the same piece of glass as a white face, without an extra lead
        line.

        The pieces are assembled with lead strips called cames, H-shaped in section so
        each holds glass on both sides. Joints are soldered, and the panel is packed with
        a putty-like cement to make it rigid and weatherproof. Large windows are divided
        into panels supported by iron bars, because lead creeps under its own weight over
        the centuries.
        """,
    ),
    (
        "cheese-aging",
        "What Happens When Cheese Ages",
        "how does a wheel of cheese develop flavour in the cellar over months",
        """
        Fresh cheese curd is mild and springy. As a cheese ages, enzymes from the milk,
        from the rennet used to curdle it and from bacteria and moulds slowly break down
        its proteins and fats. Proteins are cut into peptides and amino acids that taste
        savoury or sweet, and fats release fatty acids that give sharp, peppery or goaty
        notes.

        The starter bacteria added at the beginning turn lactose into lactic acid, then
        die off, releasing their enzymes. In cheeses such as Emmental, propionic bacteria
        keep working during warm-room ripening, producing carbon dioxide that forms the
        eyes, along with propionic acid that contributes a nutty sweetness. Crunchy
        crystals in old Gouda or Parmesan are often the amino acid tyrosine, or calcium
        lactate on the surface.

        Rinds are ecosystems of their own. Bloomy rinds like those on Brie and Camembert
        are white moulds that soften the paste from the outside in. Washed rinds are
        brushed with brine, encouraging orange, pungent bacteria. Natural rinds form from
        a mix of wild moulds and yeasts in the cave, and cloth-bound cheddars are wrapped
        in lard-smeared cloth to breathe.

        Temperature and humidity are carefully controlled. Cellars typically sit around
        ten to fourteen degrees Celsius with high humidity so that rinds do not crack.
        Affineurs turn and brush wheels regularly and judge readiness by tapping, smelling
        and drawing small cores with a cheese iron.
        """,
    ),
    (
        "firefly-bioluminescence",
        "How Fireflies Make Light",
        "what chemical reaction lets glowing beetles flash at night",
        """
        Fireflies are beetles that make light in special organs near the tip of the
        abdomen. Inside light-producing cells, the enzyme luciferase combines a molecule
        called luciferin with oxygen and ATP, the cell's energy currency. The reaction
        produces an excited molecule that releases energy as a photon of yellow-green
        light.

        The process is extremely efficient, wasting little energy as heat, which is why
        the light is often described as cold. The light organ has a reflective layer of
        crystals behind the light cells, rather like the reflector in a torch, directing
        more light outward through the transparent cuticle.

        Fireflies control their flashes by controlling oxygen. The light organ is laced
        with air tubes called tracheae. A leading explanation is that nitric oxide
        released on nerve signals briefly shuts down the mitochondria that normally
        consume oxygen, letting oxygen reach the luciferase and producing a flash.

        The flashes are courtship signals. Each species has a characteristic pattern of
        flash length, interval and flight path, and females answer males of their own
        species with timed responses. Some predatory fireflies exploit this by mimicking
        the female response of another species, luring males in to eat them. Light
        pollution from streetlights and buildings can drown out these signals and reduce
        mating success.
        """,
    ),
    (
        "suspension-bridges",
        "How a Suspension Bridge Carries Its Load",
        "why do long bridges hang the road deck from big cables between towers",
        """
        In a suspension bridge the deck hangs from vertical suspender cables attached to
        two main cables, which drape over tall towers and are anchored into massive blocks
        at each end. The weight of the deck and traffic pulls down on the main cables,
        putting them in tension, and they carry that load to the towers and anchorages.

        The towers are pressed downward by the cables and work mostly in compression,
        pushing the load into foundations deep in rock or riverbed. The anchorages resist
        the enormous pull of the cables and are often huge concrete blocks or tunnels cut
        into bedrock. Because steel wire is very strong in tension, this arrangement lets
        suspension bridges span farther than any other type.

        Main cables are not single ropes. They are spun in place from thousands of
        parallel galvanised steel wires, each only a few millimetres thick, gathered into
        strands and then compacted into a round cable and wrapped to keep out water.
        Inspectors later open small sections to check for broken or corroded wires.

        Wind is the great danger for long, light spans. The Tacoma Narrows Bridge of 1940
        twisted itself apart in a moderate wind through aeroelastic flutter. Since then,
        decks are designed to be stiff against twisting and are tested as scale models in
        wind tunnels, and many use aerodynamic box-shaped sections that let air flow
        smoothly past.
        """,
    ),
    (
        "coffee-roasting",
        "What Happens Inside a Roasting Coffee Bean",
        "how does heat turn green beans into brown beans with aroma",
        """
        Raw coffee beans are green, hard and smell grassy. Roasting transforms them
        through heat. During the first minutes the beans dry as moisture evaporates,
        turning yellow and smelling of hay or bread. Roasters call this the drying phase,
        and it usually takes up a large share of the roast.

        As the beans heat further, browning reactions take over. The Maillard reaction
        between sugars and amino acids creates hundreds of aroma compounds and brown
        pigments, while sugars caramelise. Pressure builds inside the bean from steam and
        carbon dioxide until the cell structure cracks audibly, an event called first
        crack that marks the start of a light roast.

        Everything after first crack is development. Acidity falls, bitterness and body
        rise, and origin flavours such as fruit or flowers give way to roast flavours of
        chocolate and smoke. If roasting continues, a second, quieter crack follows as the
        bean structure breaks down further, and oils migrate to the surface, producing the
        shiny look of dark roasts.

        Roasted beans keep releasing carbon dioxide for days. That is why coffee bags have
        one-way valves, and why very fresh coffee can brew unevenly. Most brewers find
        beans taste best from a few days to a few weeks after roasting, once the gas has
        settled but before the aromas have faded through oxidation.
        """,
    ),
    (
        "lightning-formation",
        "How Lightning Forms in a Thunderstorm",
        "where does the electric charge in storm clouds come from",
        """
        Lightning begins with charge separation inside a thunderstorm. Strong updrafts
        carry water droplets high into the cloud, where they freeze. Collisions between
        small ice crystals and soft hail pellets called graupel transfer electric charge,
        and the updrafts carry the lighter, positively charged crystals to the top of the
        cloud while the heavier, negatively charged graupel stays in the middle and lower
        levels.

        As charge builds, the electric field grows strong enough to start a discharge. A
        faint channel of ionised air called a stepped leader zigzags downward from the
        cloud in jumps of tens of metres. As it nears the ground, the strong field causes
        upward streamers to rise from trees, towers and people. When a streamer meets the
        leader, the circuit closes.

        A bright return stroke then races up the channel, carrying an enormous current for
        a tiny fraction of a second and heating the air to around 30,000 degrees Celsius,
        several times hotter than the surface of the sun. The air expands explosively, and
        that shock wave is the thunder we hear.

        Because light travels almost instantly and sound takes about three seconds to
        cover a kilometre, counting the seconds between flash and thunder gives a rough
        distance. Most lightning never reaches the ground at all, flashing within or
        between clouds. If thunder is audible, lightning is close enough to strike, and
        indoors or a hard-topped car is the safe place to be.
        """,
    ),
    (
        "bamboo-growth",
        "Why Bamboo Grows So Fast",
        "how can a grass shoot gain nearly a metre in a single day",
        """
        Bamboos are grasses, and some of the large timber species are among the
        fastest-growing plants recorded, with new shoots adding tens of centimetres, and
        in extreme cases close to a metre, in a day. The speed comes from the way the
        shoot is built: every segment and node is already present in miniature inside the
        emerging shoot, like a telescope waiting to extend.

        Each segment, or internode, has its own growth zone, so many parts of the shoot
        lengthen at once instead of only the tip. The cells expand mainly by taking up
        water, which is cheap and quick compared with building new material. The shoot is
        fed by sugars stored in the underground rhizome network of the established grove.

        A bamboo culm reaches its full height within a single growing season and never
        grows wider afterward. Over the following years the culm hardens as its walls
        lignify and accumulate silica, which is why builders harvest culms at three to
        five years old, when they are strongest.

        Running bamboos spread aggressively through long rhizomes and can invade
        neighbouring gardens, while clumping bamboos expand slowly from a compact base.
        Many bamboo species flower only at long intervals, sometimes many decades, and all
        plants of a species may flower and die together across a region.
        """,
    ),
    (
        "canal-locks",
        "How a Canal Lock Lifts a Boat",
        "how do boats go uphill on a waterway with gates and chambers",
        """
        A canal lock is a chamber with watertight gates at each end, used to move boats
        between two stretches of water at different levels. It needs no pumps: gravity
        does the work, using water that flows down from the higher stretch. Each time a
        boat goes through, a lockful of water passes from the upper level to the lower.

        To go up, a boat enters the chamber through the lower gates while the water inside
        matches the lower level. The lower gates close, and the crew opens paddles, small
        sluices in the upper gates or in side culverts, so water flows in from above. As
        the chamber fills, the boat rises. When the levels match, the upper gates can be
        opened and the boat moves on. Going down is the same sequence in reverse.

        Most locks use mitre gates, a pair of gates that meet at an angle pointing
        upstream. The water pressure from the higher side pushes them together, sealing
        them tightly, which is why they cannot be opened until the levels are equal.
        Leonardo da Vinci is often credited with early drawings of mitre gates in Milan.

        Where a canal must climb steeply, locks are built close together in flights, or as
        a staircase in which the top gate of one chamber is the bottom gate of the next.
        Lock keepers and boaters must coordinate to save water, because every passage
        drains the summit level, which is fed by reservoirs.
        """,
    ),
    (
        "bookbinding-basics",
        "Sewing and Binding a Book by Hand",
        "how are folded signatures stitched together and put into a hardcover",
        """
        A traditional book is built from signatures: large sheets printed on both sides,
        folded several times and trimmed into groups of pages. Folding a sheet in half
        gives a folio of four pages; folding again gives a quarto of eight, and again an
        octavo of sixteen. The direction of the paper grain should run parallel to the
        spine so the pages turn easily and do not cockle.

        The signatures are stacked in order and sewn through their folds. In many bindings
        the thread passes around cords or tapes laid across the spine, linking every
        signature to its neighbours. Kettle stitches near the head and tail lock each
        signature to the one below. The sewn block is then glued at the spine, rounded
        with a hammer into a gentle curve and backed so the spine edges flare to form
        shoulders for the boards.

        Hardcover boards of dense board are attached by the cords or tapes and by a strip
        of mull glued across the spine, then covered with cloth or leather. Endpapers tie
        the text block to the covers. Headbands, small sewn or glued decorative bands at
        the top and bottom of the spine, once strengthened the binding and now mostly add
        finish.

        Glued paperbacks use perfect binding, in which the folds are cut off and the
        single pages held only by adhesive. It is cheap and fast, but sewn books open
        flatter and survive repeated reading far better, which is why libraries favour
        them.
        """,
    ),
    (
        "salmon-homing",
        "How Salmon Return to Their Home Stream",
        "how do fish find the exact river where they hatched after years at sea",
        """
        Pacific and Atlantic salmon hatch in fresh water, migrate to the ocean to grow,
        and after one to several years return to spawn, very often in the same stream
        where they hatched. This homing keeps populations adapted to local conditions such
        as water temperature, flow and the timing of floods.

        Close to home, salmon rely on smell. As young fish prepare to go to sea, in a
        phase called smoltification, they imprint on the unique chemical signature of
        their natal stream, a mix of compounds from soil, plants and resident organisms.
        Experiments exposing young salmon to artificial odours showed that adults later
        swam toward water containing the same odour.

        In the open ocean, smell is not enough. Evidence points to a magnetic map: salmon
        appear to imprint on the intensity and inclination of the magnetic field where
        they enter the sea, and then seek out those values when returning. Studies of
        Fraser River sockeye showed that the route they chose around Vancouver Island
        shifted as the geomagnetic field slowly drifted.

        Homing is not perfect, and a small fraction of fish stray to other rivers.
        Straying lets salmon colonise new habitat, such as streams exposed by retreating
        glaciers. Dams, warm water and loss of spawning gravel threaten many runs, and
        fish ladders and dam removals aim to reopen the way upstream.
        """,
    ),
    (
        "dry-stone-walls",
        "Building a Dry Stone Wall",
        "how do you stack field stones into a wall that stands without mortar",
        """
        A dry stone wall holds together with no mortar at all, only gravity, friction and
        careful placement. Well-built walls in upland farming regions have stood for
        centuries. Their stability comes from a few principles that wallers repeat to
        apprentices: one stone over two, length into the wall, and a batter.

        A typical field wall is really two walls leaning on each other. It starts with a
        trench and large foundation stones, then two faces are built up, each stone placed
        with its longest dimension running into the wall rather than along it. The middle
        is packed tightly with small stones called hearting, placed by hand rather than
        thrown in, so the faces cannot shift inward.

        Every stone crosses the joint between the two stones beneath it, so loads spread
        and no vertical cracks run through the wall. At intervals, long through stones
        span the full width to tie the faces together. The faces lean inward as they rise,
        a taper called the batter, which puts the wall's weight toward its centre.

        The top is finished with copestones set on edge, which weigh down the structure
        and shed water. Dry stone walls drain freely, so frost and water do not build
        pressure behind them, and their crevices shelter mosses, lichens, insects and
        small animals.
        """,
    ),
    (
        "solar-eclipses",
        "Why Total Solar Eclipses Are Rare",
        "when does the moon completely block the sun and why not every month",
        """
        A total solar eclipse happens when the Moon passes directly between Earth and the
        Sun and its dark central shadow, the umbra, touches Earth's surface. The Sun is
        about 400 times wider than the Moon but also about 400 times farther away, so the
        two appear almost the same size in our sky. That coincidence allows the Moon to
        cover the Sun's bright disk exactly.

        Eclipses do not happen every new moon because the Moon's orbit is tilted about
        five degrees relative to Earth's orbit around the Sun. Most months the new Moon
        passes above or below the Sun in the sky. An eclipse is possible only when new
        Moon falls near one of the two points where the orbits cross, during eclipse
        seasons about six months apart.

        The umbra is narrow, usually less than 200 kilometres wide where it meets the
        ground, and it sweeps across Earth along a path of totality. Any single location
        sees a total eclipse on average only once every few hundred years. Outside the
        path, observers see a partial eclipse. When the Moon is near its farthest point
        and looks slightly smaller, it leaves a ring of sunlight, an annular eclipse.

        During totality the sky darkens, bright planets and stars appear, the temperature
        drops, and the Sun's pearly outer atmosphere, the corona, becomes visible. Only
        during that brief total phase is it safe to look without eye protection; every
        partial phase requires proper solar filters.
        """,
    ),
    (
        "sailing-upwind",
        "How a Sailboat Sails Against the Wind",
        "how can a yacht make progress toward where the wind is coming from",
        """
        A sailboat cannot sail directly into the wind, but it can sail at an angle to it,
        typically around 40 to 45 degrees for a modern yacht. By zigzagging across the
        wind in a series of tacks, it makes steady progress toward a destination upwind.

        Sailing upwind, the sail works like a wing. Air flowing around the curved sail
        speeds up on the leeward side and slows on the windward side, creating a pressure
        difference and an aerodynamic force roughly at right angles to the sail. That
        force points mostly sideways, with a smaller component pulling the boat forward.

        The sideways part would simply push the boat downwind if nothing resisted it. The
        keel or centreboard beneath the hull is a second wing, working in water. As the
        boat slips slightly sideways, water flowing past the keel generates a lift force
        that counters the sideways push, leaving the forward component to drive the boat
        ahead.

        Trimming the sails means setting their angle and shape to keep the airflow
        attached. Sailors watch short strands of yarn called telltales sewn onto the sail:
        when both sides stream smoothly, the sail is working well. When the boat turns too
        close to the wind, the sail luffs, flapping along its leading edge and losing
        drive.
        """,
    ),
    (
        "woodpecker-drumming",
        "How Woodpeckers Avoid Headaches",
        "why don't birds that hammer trees with their beaks injure their brains",
        """
        Woodpeckers strike wood with their beaks up to about twenty times a second, both
        to dig for insects and nest holes and to drum loudly as a territorial signal. The
        decelerations involved are many times greater than those that cause concussion in
        people, which has made their heads a long-standing puzzle.

        Part of the answer is size. A woodpecker's brain is small and sits snugly in the
        skull with little surrounding fluid, so it cannot slosh and slam into the bone as
        a large human brain does. The brain is also oriented so that impact forces spread
        over a relatively large area, and each strike lasts only a thousandth of a second
        or so.

        The hyoid apparatus, the bones and muscles supporting the long tongue, wraps
        around the back of the skull in many species, and was long proposed to act like a
        shock-absorbing seat belt. High-speed filming in recent studies suggested the
        skull behaves more like a stiff hammer than a cushion, because absorbing the blow
        would waste the energy needed to chisel wood.

        There is evidence that woodpeckers may not be entirely unharmed: studies of
        preserved brains found accumulations of a protein associated with brain injury in
        humans, though whether this harms the birds is unknown. Their beaks are also
        self-renewing, with the horny outer layer growing continuously to replace wear.
        """,
    ),
    (
        "crop-rotation",
        "Why Farmers Rotate Crops",
        "what is the benefit of planting different crops in a field each year",
        """
        Crop rotation means growing a sequence of different crops on the same field over
        several seasons instead of the same crop every year. It is one of the oldest
        farming practices and remains one of the most effective ways to keep soil
        productive with fewer inputs.

        Different crops take different nutrients and return different residues. Legumes
        such as beans, peas, clover and alfalfa host bacteria in root nodules that fix
        nitrogen from the air, leaving nitrogen-rich soil for a following cereal crop.
        Deep-rooted crops break up compacted layers and bring up nutrients from below,
        while grass leys rebuild soil organic matter and structure.

        Rotations also interrupt pests and diseases. Many soil-borne pathogens and insect
        pests specialise on one crop family. When the host disappears for a few years,
        their populations crash. Potatoes, for example, are kept out of the same field for
        several years to limit potato cyst nematodes and blight carry-over.

        In the eighteenth century, the Norfolk four-course rotation of wheat, turnips,
        barley and clover became famous in England: the turnips fed livestock through
        winter and the clover restored nitrogen, eliminating the need to leave land
        fallow. Modern rotations often add cover crops between main crops to protect soil
        from erosion and capture leftover nutrients.
        """,
    ),
    (
        "hot-air-balloons",
        "How Hot Air Balloons Fly and Steer",
        "how does a balloon pilot go up down and choose a direction",
        """
        A hot air balloon floats because the air inside its envelope is hotter and
        therefore less dense than the surrounding air. The difference in weight between
        the cooler air the envelope displaces and the warm air it contains provides lift.
        Heating the air to around 100 degrees Celsius gives enough lift to carry the
        basket, burners, fuel and passengers.

        The pilot controls altitude with the burners, which blast propane flames up into
        the envelope's open mouth. A burn makes the balloon rise after a short delay,
        because the large mass of air takes time to warm. To descend, the pilot lets the
        air cool or opens a vent at the top of the envelope, often a parachute-shaped
        panel pulled down by a cord, to release hot air.

        A balloon has no rudder and simply drifts with the wind. Pilots steer by changing
        altitude, because wind speed and direction usually differ at different heights.
        Before flight they release small helium balloons or study forecasts to learn the
        layers, then climb or descend into the layer heading the way they want to go.

        Balloons fly mostly in the early morning or late afternoon, when winds are light
        and the air is stable. Midday sun heats the ground unevenly, creating thermals and
        gusty conditions that make landings rough. A chase crew follows by road to recover
        the balloon wherever it comes down.
        """,
    ),
    (
        "maple-syrup",
        "From Maple Sap to Syrup",
        "how is tree sap collected in spring and boiled down into syrup",
        """
        Maple syrup comes from the sap of sugar maples and related trees, collected in
        late winter and early spring. Sap flows best when nights drop below freezing and
        days warm above it. Freezing nights draw water into the tree's wood, and warm days
        build pressure in the trunk that pushes sap out through any wound, including a tap
        hole.

        Producers drill a small hole into the trunk, insert a spout called a spile, and
        collect the dripping sap in buckets or, on larger operations, through networks of
        plastic tubing that often use gentle vacuum. A healthy tree can be tapped for
        decades, and a single tap yields several litres of sap in a good season without
        harming the tree.

        Fresh sap is only about two percent sugar and looks like water. It takes roughly
        forty litres of sap to make one litre of syrup. The sap is boiled in a long,
        shallow pan called an evaporator, where it flows through channels and gradually
        concentrates. Many producers first run sap through reverse osmosis to remove much
        of the water and save fuel.

        Syrup is finished when it reaches about 66 percent sugar, which happens at roughly
        four degrees Celsius above the boiling point of water. During boiling, reactions
        between sugars and amino acids create the colour and caramel flavour. Syrup from
        early in the season tends to be lighter and more delicate; late-season syrup is
        darker and stronger.
        """,
    ),
    (
        "morse-telegraph",
        "Sending Messages by Electric Telegraph",
        "how did operators send words over wires using dots and dashes",
        """
        The electric telegraph sent messages as pulses of current along a wire. At the
        sending station an operator pressed a key, a spring-loaded switch that closed the
        circuit; at the receiving station the current energised an electromagnet that
        pulled an armature with a click. Long and short closings of the key became the
        dashes and dots of Morse code.

        Samuel Morse and Alfred Vail designed the code so that common letters had short
        codes: E is a single dot and T a single dash, while rare letters such as Q and Z
        use four symbols. The gaps carry meaning too: a short gap separates the parts of a
        letter, a longer one separates letters, and a longer one still separates words.

        Early receivers embossed or inked the dots and dashes onto a moving paper tape,
        but operators soon found they could read messages by ear from the sound of the
        sounder, which was faster. Skilled operators could send and receive many words a
        minute, and each had a recognisable rhythm known as their fist.

        Long lines weakened the signal, so relays were added along the way: a weak
        incoming current operated a switch that sent a fresh, strong current down the next
        section. Telegraph lines followed railways across continents, and submarine cables
        eventually linked continents, shrinking the time for news to cross an ocean from
        weeks to minutes.
        """,
    ),
    (
        "sand-dune-migration",
        "How Sand Dunes Move Across a Desert",
        "why do dunes creep forward and what shapes do they take",
        """
        Sand dunes form where wind carries plenty of loose sand and something slows it
        down. Wind moves sand grains mostly by saltation: grains are lifted, carried a
        short distance and fall, knocking other grains into the air when they land. Grains
        too heavy to be lifted are nudged along the surface by these impacts, a process
        called creep.

        A dune has a gentle windward slope and a steep downwind face called the slip face.
        Wind pushes sand up the windward slope to the crest, where it drops into the
        sheltered area behind. When the slip face grows steeper than the angle of repose,
        about 34 degrees for dry sand, it avalanches. Sand is constantly moved from the
        back of the dune to the front, so the whole dune advances downwind, sometimes many
        metres each year.

        Dune shape depends on wind and sand supply. Crescent-shaped barchans form where
        sand is scarce and the wind blows from one direction, with horns pointing
        downwind. Long linear dunes form with two alternating wind directions, and tall
        star dunes with radiating arms grow where winds come from many directions.

        Some dunes sing: when sand avalanches down a slip face, the grains can produce a
        loud, low booming hum that lasts for minutes. The sound seems to need dry,
        well-sorted, rounded grains, and its pitch depends on grain size rather than on
        the size of the dune.
        """,
    ),
    (
        "natural-dyes",
        "Dyeing Wool With Plants",
        "how do you get colour from roots and leaves to stay in yarn",
        """
        Before synthetic dyes, nearly every coloured textile was dyed with plants, insects
        or minerals. Many plant dyes still give beautiful, durable colours on wool. The
        classic trio is madder root for reds, weld for yellows and woad or indigo for
        blues; overdyeing yellow with blue gives greens, and madder with blue gives
        purples.

        Most plant dyes need a mordant, a metal salt that binds to the fibre and to the
        dye, fixing the colour and improving its resistance to washing and light. Alum,
        potassium aluminium sulphate, is the most common and keeps colours clear and
        bright. Iron darkens or saddens colours toward greys and browns. Tannin-rich
        plants can serve as mordants for cellulose fibres such as cotton.

        The dyer first scours the wool to remove grease, then simmers it gently in the
        mordant bath. Meanwhile the plant material is soaked and heated to extract the
        dye. The wet, mordanted wool goes into the dyebath and is held at a gentle heat,
        because boiling can dull colours and felt the fibres.

        Indigo is different. Its blue pigment is insoluble, so the dyer must chemically
        reduce it in an alkaline vat to a yellow-green soluble form. Wool dipped into the
        vat comes out green and turns blue before the dyer's eyes as air oxidises the dye
        back into insoluble indigo trapped inside the fibre. Repeated dips build darker
        shades.
        """,
    ),
    (
        "pendulum-clocks",
        "How a Pendulum Clock Keeps Time",
        "why does a swinging weight make a mechanical clock accurate",
        """
        A pendulum swings with a period that depends almost only on its length and on
        gravity, not on how far it swings, as long as the swing is small. Christiaan
        Huygens built the first pendulum clock in 1656, and it improved timekeeping from
        errors of minutes per day to seconds.

        A pendulum about one metre long takes one second for each swing, and this seconds
        pendulum became standard in tall longcase clocks. The clock's gear train, driven
        by a falling weight or a spring, would spin freely if nothing held it back. The
        escapement is the part that releases the train one tooth at a time, once per
        swing, and gives the pendulum a small push to replace the energy lost to friction
        and air.

        The anchor escapement, shaped like a ship's anchor, rocks with the pendulum and
        alternately catches and releases the teeth of the escape wheel. Each release
        produces the familiar tick. Later designs such as the deadbeat escapement reduced
        the recoil and disturbance to the pendulum, and precision clocks kept time to a
        fraction of a second per day.

        Temperature was the next enemy: metal rods expand in heat, lengthening the
        pendulum and slowing the clock. Clockmakers answered with the gridiron pendulum,
        combining brass and steel rods whose expansions cancel, and the mercury pendulum,
        in which rising mercury in a jar compensates for the rod's growth.
        """,
    ),
    (
        "kelp-forests",
        "Kelp Forests and Sea Otters",
        "why do underwater seaweed forests disappear when urchins take over",
        """
        Kelp forests grow in cool, nutrient-rich coastal waters, where large brown algae
        anchor to rock with rootlike holdfasts and rise toward the light. Giant kelp can
        grow tens of centimetres in a day and reach the surface from depths of twenty
        metres or more, kept upright by gas-filled bladders at the base of each blade.

        The forest creates habitat in three dimensions. Fish shelter among the stipes,
        snails and crabs graze the blades, and the canopy at the surface shades the water
        below. Kelp also damps waves along the shore and stores carbon, some of which is
        exported to the deep sea when fronds are torn loose by storms.

        Sea urchins are kelp's chief grazers. Where their predators are abundant, urchins
        hide in crevices and eat drift kelp that falls to the bottom. Where predators
        disappear, urchins emerge and graze actively, mowing through holdfasts. Forests
        can collapse into urchin barrens, rocky flats that can persist for decades because
        starving urchins survive for a very long time.

        Along the Pacific coast of North America, sea otters are a keystone predator of
        urchins. When otters were hunted nearly to extinction for fur, many kelp forests
        vanished, and where otters returned, forests recovered. Elsewhere, a wasting
        disease that killed sunflower sea stars, another urchin predator, contributed to
        dramatic kelp losses.
        """,
    ),
    (
        "ice-core-climate",
        "Reading Past Climate From Ice Cores",
        "how do scientists learn about ancient air and temperatures from drilled polar ice",
        """
        Ice sheets in Antarctica and Greenland form from snow that accumulates year after
        year and compresses into ice. Drilling vertically through them recovers cylinders
        of ice called ice cores, some more than three kilometres long. The deepest
        Antarctic cores reach ice formed roughly 800,000 years ago, an archive of climate
        through many ice ages.

        As snow turns to ice, air between the grains is sealed into tiny bubbles.
        Measuring that trapped air gives direct samples of past atmospheres, including
        their carbon dioxide and methane concentrations. These records show that carbon
        dioxide rose and fell with the ice ages, and that today's levels are far above
        anything in the cores.

        Temperature comes from the ice itself. Water molecules containing the heavier
        isotopes of oxygen and hydrogen condense and fall more readily, so the colder the
        climate, the more depleted in heavy isotopes the snow that reaches the poles. The
        ratio of heavy to light isotopes in each layer therefore acts as a thermometer.

        Where snowfall is high, annual layers can be counted like tree rings, using
        seasonal changes in dust, chemistry and isotopes. Layers of volcanic ash and
        sulphate from known eruptions provide time markers shared between cores from
        different places, and dust content records how windy and dry the past world was.
        """,
    ),
]
