"""Plot tests draw on matplotlib's Agg backend and close their figures."""

import matplotlib
import pytest

matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def close_figures():
    import matplotlib.pyplot as plt

    yield
    plt.close("all")


@pytest.fixture
def ax():
    import matplotlib.pyplot as plt

    return plt.figure().add_subplot()
