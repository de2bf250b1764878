"""The key builders: the layout of DESIGN.md, and no id can smuggle a path into a key.

Pure functions, no store involved (these would sit as well under tests/unit).
"""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.blobstore import InvalidBlobKey, keys


def test_keys_follow_the_documented_layout() -> None:
    assert keys.file_key("proj_1", "file-abc") == "projects/proj_1/files/file-abc"
    assert keys.upload_prefix("proj_1", "upload_9") == "projects/proj_1/uploads/upload_9/"
    assert (
        keys.upload_part_key("proj_1", "upload_9", "part_3")
        == "projects/proj_1/uploads/upload_9/parts/part_3"
    )
    assert keys.job_prefix("proj_1", "ftjob-7") == "projects/proj_1/jobs/ftjob-7/"
    assert keys.attempt_prefix("proj_1", "ftjob-7", 2) == "projects/proj_1/jobs/ftjob-7/attempts/2/"
    assert (
        keys.checkpoint_prefix("proj_1", "ftjob-7", 2, 120)
        == "projects/proj_1/jobs/ftjob-7/attempts/2/checkpoints/step-120/"
    )
    assert (
        keys.checkpoint_object_key("proj_1", "ftjob-7", 2, 120, "adapter/config.json")
        == "projects/proj_1/jobs/ftjob-7/attempts/2/checkpoints/step-120/adapter/config.json"
    )
    assert (
        keys.adapter_prefix("proj_1", "ftjob-7", 2)
        == "projects/proj_1/jobs/ftjob-7/attempts/2/adapter/"
    )
    assert (
        keys.adapter_object_key("proj_1", "ftjob-7", 2, "manifest.json")
        == "projects/proj_1/jobs/ftjob-7/attempts/2/adapter/manifest.json"
    )


def test_every_prefix_is_a_prefix_of_the_keys_beneath_it() -> None:
    assert keys.upload_part_key("p", "u", "x").startswith(keys.upload_prefix("p", "u"))
    assert keys.adapter_object_key("p", "j", 1, "x").startswith(keys.adapter_prefix("p", "j", 1))
    assert keys.checkpoint_prefix("p", "j", 1, 5).startswith(keys.attempt_prefix("p", "j", 1))
    assert keys.adapter_prefix("p", "j", 1).startswith(keys.attempt_prefix("p", "j", 1))
    assert keys.attempt_prefix("p", "j", 1).startswith(keys.job_prefix("p", "j"))


def test_attempts_never_share_a_prefix() -> None:
    """A runner that lost its claim writes under its own attempt's prefix, never another's."""
    one, two = keys.attempt_prefix("p", "j", 1), keys.attempt_prefix("p", "j", 12)
    assert not one.startswith(two)
    assert not two.startswith(one)
    with pytest.raises(InvalidBlobKey, match="attempt"):
        keys.attempt_prefix("p", "j", 0)


@pytest.mark.parametrize("bad_id", ["", "..", ".", "../x", "a/b", ".hidden", "a b", "x" * 256])
def test_ids_that_are_not_one_safe_segment_are_rejected(bad_id: str) -> None:
    with pytest.raises(InvalidBlobKey):
        keys.file_key("proj_1", bad_id)
    with pytest.raises(InvalidBlobKey):
        keys.file_key(bad_id, "file-1")
    with pytest.raises(InvalidBlobKey):
        keys.adapter_object_key("proj_1", "ftjob-1", 1, bad_id)


def test_a_negative_checkpoint_step_is_rejected() -> None:
    with pytest.raises(InvalidBlobKey, match="step"):
        keys.checkpoint_prefix("proj_1", "ftjob-1", 1, -1)


def test_a_checkpoint_object_name_cannot_climb_out() -> None:
    with pytest.raises(InvalidBlobKey):
        keys.checkpoint_object_key("proj_1", "ftjob-1", 1, 1, "../../adapter/manifest.json")


@given(project_id=st.text(max_size=20), file_id=st.text(max_size=20))
def test_any_accepted_id_stays_one_segment_of_a_valid_key(project_id: str, file_id: str) -> None:
    try:
        key = keys.file_key(project_id, file_id)
    except InvalidBlobKey:
        return
    assert keys.validate_key(key) == key
    assert key.split("/") == ["projects", project_id, "files", file_id]
