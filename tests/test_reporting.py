"""The trainer's read-outs (:class:`torchgan_ext.trainer.reporting.Reporting`)."""

from types import SimpleNamespace

from torchgan_ext.trainer.reporting import Reporting


class _Run(Reporting):
    def __init__(self, metrics, ema):
        self.metrics = metrics
        self.metric_names = {name: name.lower() for name in metrics}
        self.ema = ema


def _metric(**kw):
    return SimpleNamespace(last_result={"value": 1.0, "protocol": {"seed": 0}}, **kw)


def test_metric_protocols_name_the_generator_each_metric_evaluates():
    metrics = {
        "FID": _metric(),  # no use_ema: evaluates the EMA generator
        "Accuracy": _metric(use_ema=True),
        "UNetAccuracy": _metric(use_ema=False),
        "Plain": SimpleNamespace(last_result={"value": 2.0}),  # no protocol record
    }
    with_ema = _Run(metrics, ema={"generator": object()}).metric_protocols()
    assert with_ema == {
        "fid": {"seed": 0, "generator": "ema"},
        "accuracy": {"seed": 0, "generator": "ema"},
        "unetaccuracy": {"seed": 0, "generator": "raw"},
    }
    without = _Run(metrics, ema={}).metric_protocols()
    assert {p["generator"] for p in without.values()} == {"raw"}
    # the metrics' own records are left as they were
    assert all(m.last_result.get("protocol", {}) in ({"seed": 0}, {}) for m in metrics.values())
