from formclip_pipeline.catalog import BAD_CLASS, GOOD_CLASS, binary_label, catalogue, get_exercise

import pytest


def test_five_exercises_each_with_good_form_and_three_faults():
    cat = catalogue()
    assert set(cat) == {"squat", "deadlift", "bench_press", "row", "ohp"}
    for ex in cat.values():
        assert ex.class_names[0] == GOOD_CLASS
        assert len(ex.fault_names) >= 3, ex.name
        for c in ex.classes:
            assert len(c.templates) >= 2
            assert c.views
            if c.is_fault:
                assert c.issue, f"{ex.name}/{c.name} has no issue text for reports"


def test_binary_labels_derive_from_the_catalogue():
    squat = get_exercise("squat")
    assert binary_label("good_form") == GOOD_CLASS
    assert {binary_label(f) for f in squat.fault_names} == {BAD_CLASS}
    assert squat.labels(multi_class=False) == [GOOD_CLASS, BAD_CLASS]
    assert len(squat.prompts(multi_class=True)) == len(squat.class_names)


def test_unknown_names_are_refused_with_the_known_ones():
    with pytest.raises(KeyError, match="known: squat"):
        get_exercise("curl")
    with pytest.raises(KeyError, match="partial_depth"):
        get_exercise("squat").form_class("shallow")
