from napari_lowdose.core.progress import drive


def test_drive_reports_every_step_and_returns_the_value():
    def gen():
        yield 1
        yield 2
        return "done"

    seen = []
    assert drive(gen(), seen.append) == "done"
    assert seen == [1, 2]
    assert drive(gen()) == "done"
