"""model.config text: tfsctl writes it directly, and it must be byte for byte what protobuf's
own text printer makes of the same entries (and parse back to them), for any names, paths,
platforms, policies and labels, escapes included."""

from __future__ import annotations

from google.protobuf import text_format
from hypothesis import given, settings
from hypothesis import strategies as st

from tfsctl.serverconfig.model_config import (
    ModelEntry,
    PolicyKind,
    VersionPolicy,
    parse_text,
    render_text,
    to_proto,
)

#: any text, and the characters protobuf escapes, often
texts = st.one_of(st.text(max_size=12), st.text(alphabet='"\'\\\n\r\t\x00\x7fé/ab ', max_size=8))
policies = st.one_of(
    st.builds(VersionPolicy, st.just(PolicyKind.LATEST), st.integers(0, 2 ** 32 - 1)),
    st.just(VersionPolicy(PolicyKind.ALL, latest=0)),
    st.builds(lambda versions: VersionPolicy(PolicyKind.SPECIFIC, 0, tuple(versions)),
              st.lists(st.integers(-2 ** 63, 2 ** 63 - 1), max_size=4)))
entries = st.builds(ModelEntry, texts, texts, texts, policies,
                    st.lists(st.tuples(texts, st.integers(-2 ** 63, 2 ** 63 - 1)), max_size=3)
                    .map(tuple))


@settings(max_examples=400, deadline=None)
@given(st.lists(entries, max_size=4))
def test_the_text_is_protobufs_own(found: list[ModelEntry]) -> None:
    assert render_text(found) == text_format.MessageToString(to_proto(found))


@settings(max_examples=200, deadline=None)
@given(st.lists(entries, min_size=1, max_size=3))
def test_the_text_parses_back_to_the_entries(found: list[ModelEntry]) -> None:
    def canonical(entry: ModelEntry) -> tuple:
        policy = entry.policy
        if policy.kind is PolicyKind.LATEST:  # TF Serving reads num_versions 0 as latest 1
            policy = VersionPolicy(PolicyKind.LATEST, policy.latest or 1)
        elif policy.kind is PolicyKind.SPECIFIC:
            policy = VersionPolicy(PolicyKind.SPECIFIC, 0, tuple(sorted(policy.specific)))
        return (entry.name, entry.base_path, entry.platform or "tensorflow", policy,
                tuple(sorted(dict(entry.labels).items())))

    assert [canonical(e) for e in parse_text(render_text(found))] == [canonical(e) for e in found]


def test_a_typical_config_reads_as_tf_serving_documents_it() -> None:
    text = render_text([ModelEntry("half_plus_two", "/models/half_plus_two",
                                   policy=VersionPolicy(PolicyKind.LATEST, 2),
                                   labels=(("stable", 2),))])
    assert text == ('model_config_list {\n  config {\n    name: "half_plus_two"\n'
                    '    base_path: "/models/half_plus_two"\n    model_platform: "tensorflow"\n'
                    '    model_version_policy {\n      latest {\n        num_versions: 2\n'
                    '      }\n    }\n    version_labels {\n      key: "stable"\n      value: 2\n'
                    '    }\n  }\n}\n')
