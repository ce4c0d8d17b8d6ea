import pytest
import torch

from detector.mesonet import Meso4, MesoInception4


def trainable(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def test_meso4_has_the_papers_27977_trainable_parameters():
    assert trainable(Meso4(num_classes=1)) == 27_977


def test_meso4_classifier_outputs_one_logit_at_256():
    assert Meso4()(torch.rand(2, 3, 256, 256)).shape == (2, 1)


@pytest.mark.parametrize("cls", [Meso4, MesoInception4])
@pytest.mark.parametrize("size", [128, 256, 299])
def test_feature_vector_is_1024_at_any_size(cls, size):
    model = cls(num_classes=0).eval()
    assert model(torch.rand(1, 3, size, size)).shape == (1, 1024)
    assert model.num_features == 1024


def test_reset_classifier_removes_the_head():
    model = MesoInception4(num_classes=1)
    n_with_head = trainable(model)
    model.reset_classifier(0)
    assert trainable(model) == n_with_head - (1024 * 16 + 16 + 17)


def test_mesoinception4_inception_widths():
    model = MesoInception4()
    maps = model.forward_features(torch.rand(1, 3, 256, 256))
    assert maps.shape == (1, 16, 8, 8)
