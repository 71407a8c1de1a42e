"""The in-memory name index: lookups and Discord-shaped autocomplete."""

from __future__ import annotations

from bot.core.models import Topic
from bot.store.directory import CHOICE_CHARS, MAX_CHOICES, Directory, EpisodeEntry

TOPICS = [
    Topic("defensible-moats", "Defensible moats", aliases=("moats", "competitive advantage")),
    Topic("data-science-as-role-play", "Data science as role play", aliases=("LARP",)),
    Topic("cafe-culture", "Café culture"),
]


def _entry(n: int, title: str, guests: tuple[str, ...] = (), topics=(), origin="content"):
    return EpisodeEntry(n, n, f"ep-{n}", title, guests, tuple(topics), None, origin)


def _directory() -> Directory:
    return Directory(
        [
            _entry(
                11, "Data Science: The Great Stagnation", ("Mark Saroufim",), ["defensible-moats"]
            ),
            _entry(12, "Retail Forecasting", ("Ana López",), ["defensible-moats"]),
            _entry(110, "Moats Revisited", ("Jo Müller",)),
            _entry(2, "The Early Days", ("Hugo Bowne-Anderson",)),
        ],
        TOPICS,
    )


def test_topic_by_slug_title_or_alias_ignoring_case_and_accents():
    d = _directory()
    for text in ("defensible-moats", "Defensible Moats", "MOATS", " competitive  advantage "):
        assert d.topic(text) == TOPICS[0]
    assert d.topic("larp") == TOPICS[1]
    assert d.topic("cafe culture") == TOPICS[2]
    assert d.topic("moat") is None  # exact names only; search handles the rest


def test_topic_episodes_newest_first():
    d = _directory()
    assert [e.number for e in d.topic_episodes("defensible-moats")] == [12, 11]
    assert d.topic_episodes("cafe-culture") == []
    refs = d.topic_episode_refs("defensible-moats")
    assert refs == tuple(e.ref() for e in d.topic_episodes("defensible-moats"))
    ids = d.topic_episode_ids("defensible-moats")
    assert ids == tuple(e.id for e in d.topic_episodes("defensible-moats"))
    assert d.topic_episode_refs("cafe-culture") == () == d.topic_episode_ids("no-such-topic")


def test_find_episodes_by_words_of_title_or_guest():
    d = _directory()
    assert [e.number for e in d.find_episodes("saroufim")] == [11]
    assert [e.number for e in d.find_episodes("Lopez")] == [12]
    assert [e.number for e in d.find_episodes("great stagnation")] == [11]
    assert [e.number for e in d.find_episodes("stagn")] == [11]  # a word beginning
    assert d.find_episodes("the") != []  # only stop words: they are used after all
    assert d.find_episodes("zebra") == []


def test_episode_choices_by_number_prefix_then_words():
    d = _directory()
    assert [v for _, v in d.episode_choices("11")] == ["11", "110"]
    assert [v for _, v in d.episode_choices("#1")] == ["11", "12", "110"]
    assert [v for _, v in d.episode_choices("ep 2")] == ["2"]
    assert [v for _, v in d.episode_choices("moa")] == ["110"]
    assert [v for _, v in d.episode_choices("mark sar")] == ["11"]
    assert [v for _, v in d.episode_choices("")] == ["110", "12", "11", "2"]  # newest first
    name, value = d.episode_choices("saroufim")[0]
    assert name == "#11 · Data Science: The Great Stagnation — Mark Saroufim" and value == "11"


def test_topic_choices_by_title_alias_or_inner_word():
    d = _directory()
    assert d.topic_choices("def") == [("Defensible moats", "defensible-moats")]
    assert d.topic_choices("comp") == [
        ("Defensible moats (competitive advantage)", "defensible-moats")
    ]
    assert [v for _, v in d.topic_choices("role")] == ["data-science-as-role-play"]
    assert [v for _, v in d.topic_choices("")] == [
        "cafe-culture",
        "data-science-as-role-play",
        "defensible-moats",
    ]
    assert d.topic_choices("zzz") == []


def test_content_wins_over_a_feed_duplicate():
    d = Directory([_entry(11, "Feed Title", origin="feed"), _entry(11, "Curated Title")], TOPICS)
    entry = d.episode_by_number(11)
    assert entry is not None and entry.title == "Curated Title"


def test_suggestions_for_typos():
    d = _directory()
    assert [e.number for e in d.suggest_episodes("stagnaton")][:1] == [11]
    assert [t.slug for t in d.suggest_topics("defensable moats")][:1] == ["defensible-moats"]
    assert d.suggest_topics("xq") == []


def test_did_you_mean_compares_names_sharing_a_word_beginning():
    # A text with a word like no word of any name skips respelling and is compared with
    # whole names; only names sharing a word beginning with it are (all of them took up to
    # ~130 ms at 10,000 episodes, see bench/README.md), which also drops the noise a long
    # sentence got from names that merely share short words with it.
    d = _directory()
    assert [e.number for e in d.suggest_episodes("Great Stagnation qxzv")][:1] == [11]
    assert [e.number for e in d.suggest_episodes("the early dayz of hugo")] == [2]
    sentence = "what was the one where they talked about the thing with people from that company"
    assert d.suggest_episodes(sentence) == []
    assert d.suggest_episodes(sentence * 24) == []  # 2,000 characters, as /episode accepts


def test_did_you_mean_at_ten_thousand_episodes_finds_an_old_episode():
    others = [
        _entry(n, f"Data Science Episode {n}", (f"Guest Number{n}",)) for n in range(20, 10_020)
    ]
    d = Directory([*others, _entry(3, "Data Science: The Great Stagnation")], TOPICS)
    found = d.suggest_episodes("data science the great stagnation of qxzv")
    assert [e.number for e in found][:1] == [3]


def test_choices_fit_discord_at_ten_thousand_episodes():
    # Speed is measured in bench/search.py (autocomplete p50/p99), never asserted here.
    entries = [
        _entry(n, f"Episode title number {n} about " + "very long words " * 10, ("A Guest",))
        for n in range(1, 10_001)
    ]
    d = Directory(entries, TOPICS)
    for prefix in ("", "1", "9999", "a", "episode t", "ver", "guest", "zzz", "x" * 500):
        choices = d.episode_choices(prefix)
        assert len(choices) <= MAX_CHOICES
        assert all(0 < len(n) <= CHOICE_CHARS and 0 < len(v) <= CHOICE_CHARS for n, v in choices)
    assert len(d.episode_choices("a")) == MAX_CHOICES


def test_every_choice_opens_the_episode_it_names():
    # Seasons counting from 1 again, two trailers with one slug, a title that reads as a number.
    d = Directory(
        [
            EpisodeEntry(1, 3, "pilot", "Pilot", (), ()),
            EpisodeEntry(2, 3, "pilot-again", "Pilot again", (), (), origin="feed"),
            EpisodeEntry(3, None, "trailer", "Trailer", (), (), origin="feed"),
            EpisodeEntry(4, None, "trailer", "Trailer", (), (), origin="feed"),
            EpisodeEntry(5, None, "1984", "1984", (), (), origin="feed"),
            EpisodeEntry(6, 7, "seven", "Seven", (), ()),
        ],
        TOPICS,
    )
    choices = [d.choice(e) for e in d.episodes]
    assert [d.episode_named(value) for _, value in choices] == d.episodes
    assert d.choice(d.episode_by_id(6)) == ("#7 · Seven", "7")  # unambiguous: the number
    assert [e.id for e in d.episodes_numbered(3)] == [1, 2]  # content first
    assert d.episode_named("id:999") is None


def test_a_label_of_ours_opens_the_episode_its_number_and_title_name():
    d = Directory(
        [
            EpisodeEntry(1, 3, "pilot", "Pilot", (), (), season=1),
            EpisodeEntry(2, 3, "pilot-again", "Pilot again", ("Ana",), (), season=2),
        ],
        TOPICS,
    )
    for label in (
        "Season 2, Episode 3: Pilot again",
        "S2 E3 · Pilot again — Ana",
        "#3 · Pilot ag…",
    ):
        assert d.episode_named(label) is d.episode_by_id(2), label
    assert d.episode_named("Ep. 3: Pilot") is d.episode_by_id(1)
    assert d.episode_named("Ep. 3: Pilot season") is None  # a title of neither
    assert d.episode_named("Ep. 4: Pilot") is None


def test_a_long_autocomplete_name_is_cut_at_a_word_and_keeps_the_guest():
    long_title = (
        "Data Science and the Great Stagnation: what a very long subtitle tells us about "
        "open source maintainers"
    )
    many = tuple(f"Guest Number{i} Person" for i in range(5))
    d = Directory(
        [
            _entry(11, long_title, ("Mark Saroufim",)),
            _entry(12, "Retail Forecasting at Scale with Open Source Tools", many),
        ],
        TOPICS,
    )
    names = [d.choice(d.episode_by_number(n))[0] for n in (11, 12)]
    assert names == [
        "#11 · Data Science and the Great Stagnation: what a very long subtitle tells us…"
        " — Mark Saroufim",
        # Guests that would leave too little of the title are the ones cut.
        "#12 · Retail Forecasting at Scale with Open Source Tools — Guest Number0 Person,"
        " Guest Number1…",
    ]
    assert all(len(name) <= CHOICE_CHARS for name in names)
    # Pasted back into /episode, each still opens its episode.
    assert [d.episode_named(name).number for name in names] == [11, 12]


def test_a_topic_whose_title_shows_what_was_typed_is_named_by_its_title_alone():
    d = _directory()
    assert d.topic_choices("moat") == [("Defensible moats", "defensible-moats")]
    assert d.topic_choices("Defensible M") == [("Defensible moats", "defensible-moats")]
    # The alias still shows when it is what matched and the title does not say it.
    assert d.topic_choices("larp") == [
        ("Data science as role play (LARP)", "data-science-as-role-play")
    ]


def test_close_spellings_are_offered_for_a_few_misspelt_words_of_four_letters_or_more():
    d = _directory()
    assert [v for _, v in d.episode_choices("sciense grat stagnaton")] == ["11"]
    assert [v for _, v in d.episode_choices("mots revisted")] == ["110"]
    assert d.episode_choices("mot") == []  # three letters: one edit from too many words
    # Four misspelt words are a different query, not typos (and each costs a lookup).
    assert d.episode_choices("daat sciense grat stagnaton") == []


def test_a_number_typed_is_not_respelt():
    # "forecasting 2023" offered 2024's and 2025's episodes: one edit away, and not meant.
    d = Directory(
        [
            _entry(1, "Forecasting 2024", ("Ana López",)),
            _entry(2, "Forecasting 2025", ("Jo Müller",)),
        ],
        TOPICS,
    )
    assert d.episode_choices("forecasting 2023") == []
    assert [v for _, v in d.episode_choices("forcasting 2024")] == ["1"]  # the word still is
