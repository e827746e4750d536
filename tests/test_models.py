import math

import torch
from torch import nn

from litlab.models.functional import stable_softmax
from litlab.models.mlp import MLP
from litlab.models.polynomial import Polynomial3


def test_polynomial3_evaluates_the_cubic_with_four_scalar_parameters():
    torch.manual_seed(0)
    model = Polynomial3()
    params = dict(model.named_parameters())
    assert sorted(params) == ["a", "b", "c", "d"]
    assert all(p.shape == () for p in params.values())
    x = torch.tensor([-2.0, 0.0, 0.5, 3.0])
    a, b, c, d = model.coefficients
    torch.testing.assert_close(model(x), a + b * x + c * x**2 + d * x**3)


def test_polynomial3_string_shows_the_learned_coefficients():
    model = Polynomial3()
    with torch.no_grad():
        for name, value in zip("abcd", (0.5, -1.25, 0.0, 2.0), strict=True):
            getattr(model, name).fill_(value)
    assert model.string() == "y = +0.5000 -1.2500 x +0.0000 x^2 +2.0000 x^3"


def test_default_mlp_is_the_specified_network():
    layers = list(MLP().layers)
    assert [type(layer) for layer in layers] == [
        nn.Flatten,
        nn.Linear,
        nn.ReLU,
        nn.Linear,
        nn.ReLU,
        nn.Linear,
    ]
    shapes = [
        (layer.in_features, layer.out_features) for layer in layers if isinstance(layer, nn.Linear)
    ]
    assert shapes == [(784, 512), (512, 512), (512, 10)]
    assert MLP()(torch.zeros(3, 1, 28, 28)).shape == (3, 10)


def test_mlp_hidden_sizes_and_dropout_are_configurable():
    model = MLP(hidden_sizes=[32], dropout=0.2)
    assert [type(layer) for layer in model.layers] == [
        nn.Flatten,
        nn.Linear,
        nn.ReLU,
        nn.Dropout,
        nn.Linear,
    ]
    assert model.layers[3].p == 0.2


def test_stable_softmax_matches_torch_and_survives_huge_logits():
    probs = stable_softmax(torch.tensor([1000.0, 1001.0, 1002.0]))
    torch.testing.assert_close(probs, torch.tensor([0.0900, 0.2447, 0.6652]), atol=1e-4, rtol=0)
    extreme = stable_softmax(torch.tensor([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4]]))
    assert torch.isfinite(extreme).all()
    torch.testing.assert_close(extreme.sum(-1), torch.ones(2))
    logits = torch.randn(5, 7)
    torch.testing.assert_close(stable_softmax(logits), torch.softmax(logits, -1))
    # the naive formula overflows where the stable one does not
    naive = torch.tensor([1000.0]).exp() / torch.tensor([1000.0]).exp().sum()
    assert math.isnan(naive.item())
