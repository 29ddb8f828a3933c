"""register_preset: a new preset of the generalized update, end to end; and the presets' docs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import optimizers
from optcompare.errors import InputError
from optimizers import Inclusion, UpdateStructure
from tests.optimizers.reference import reference_run  # tests/optimizers/reference.py

HEAVY_BALL = UpdateStructure("momentum", False, False, None, 0.0, "none", "outside", False)
NADAM = UpdateStructure("beta1", True, True, "beta2", 0.0, "outside", "outside", True)


def _sgd_to_heavy_ball(hp, schedule, eps):
    return {**hp, "momentum": 0.0}, schedule


def _nesterov_to_nadam(hp, schedule, eps):
    """beta1 = gamma, beta2 = 0, epsilon = E, alpha_t = eta_t * E * (1 - beta1^(t+1)) / (1 - beta1)."""
    beta1 = hp["momentum"]

    def alpha(t):
        return schedule(t) * eps * (1.0 - beta1 ** (t + 1)) / (1.0 - beta1)

    return {"learning_rate": alpha(0), "beta1": beta1, "beta2": 0.0, "epsilon": eps}, alpha


CASES = [
    # name, structure, defaults, reference rule, hparams of the step check, declared inclusion
    (
        "my-heavy-ball", HEAVY_BALL, {"learning_rate": 0.1, "momentum": 0.5, "weight_decay": 0.0},
        "momentum", {"momentum": 0.7, "weight_decay": 1e-2},
        Inclusion("sgd", "my-heavy-ball", _sgd_to_heavy_ball, exact=True),
    ),
    (
        # No weight decays at all: nesterov's decoupled_weight_decay = 0 is dropped by imitate.
        "my-nadam", NADAM, {"learning_rate": 1e-3, "beta1": 0.8, "beta2": 0.99, "epsilon": 1e-6},
        "nadam", {"beta1": 0.6, "beta2": 0.9, "epsilon": 1e-3},
        Inclusion("nesterov", "my-nadam", _nesterov_to_nadam, exact=False),
    ),
]


@pytest.mark.parametrize(("name", "structure", "defaults", "rule", "hp", "inclusion"), CASES, ids=[c[0] for c in CASES])
def test_register_preset_end_to_end(isolated_registries, name, structure, defaults, rule, hp, inclusion):
    spec = optimizers.register_preset(
        name, structure, defaults, description=f"{rule} again", includes=[inclusion],
        search_space={"learning_rate": {"min": 1e-3, "max": 1.0, "scaling": "log"}},
    )
    assert optimizers.get_spec(name) is spec and spec.structure == structure
    assert spec.hparam_names == tuple(defaults)
    assert spec.doc.startswith(f"{rule} again") and structure.equations() in spec.doc

    # create -> steps equal the float64 reference of the structure's rule.
    rng = np.random.default_rng(0)
    theta0 = rng.standard_normal(5)
    grads = [rng.standard_normal(5) for _ in range(6)]
    lrs = [0.05 * (1 - t / 10) for t in range(6)]
    p = torch.nn.Parameter(torch.tensor(theta0))
    opt = optimizers.create(name, [p], learning_rate=lrs[0], **hp)
    assert isinstance(opt, optimizers.GeneralizedOptimizer)
    expected = reference_run(rule, hp, theta0, grads, lrs)
    for g, lr, want in zip(grads, lrs, expected, strict=True):
        opt.param_groups[0]["lr"] = lr
        p.grad = torch.tensor(g)
        opt.step()
        np.testing.assert_allclose(p.detach().numpy(), want, rtol=1e-12, atol=1e-14)

    # The declared inclusion is registered, imitable and passes its numerical check.
    assert [i.wide for i in optimizers.inclusion_path(inclusion.narrow, name)] == [name]
    narrow_hp = {"learning_rate": 0.05, **({"momentum": 0.9} if inclusion.narrow == "nesterov" else {})}
    check = optimizers.check_inclusion(inclusion.narrow, name, narrow_hp, (1e2, 1e4, 1e6), steps=100)
    assert check.passed, check.reason
    assert check.exact is inclusion.exact

    # Bundlable like a built-in: the structure is on the spec.
    assert optimizers.bundle_structure(name) == structure


BAD = [
    (HEAVY_BALL, {"learning_rate": 0.1}, {}, r"defaults lack 'momentum', read by its structure"),
    (HEAVY_BALL, {"learning_rate": 0.1, "momentum": 0.5, "beta2": 0.9}, {}, r"'beta2' is not read by its structure; valid names: learning_rate, momentum"),
    (HEAVY_BALL, {"learning_rate": 0.1, "momentum": 1.5}, {}, r"default momentum=1\.5 is out of range; valid range: \[0, 1\)"),
    (NADAM, {"learning_rate": 0.1, "beta1": 0.9, "beta2": 0.9, "epsilon": 0.0}, {}, r"default epsilon=0\.0 is out of range; valid range: \(0, inf\)"),
    (
        UpdateStructure("momentum", False, False, "rho", 1.0, "inside", "inside", False),
        {"learning_rate": 0.1, "momentum": 0.0, "rho": 0.9, "epsilon": 0.0}, {}, r"eps=0\.0 requires rho=1",
    ),
    (HEAVY_BALL, {"learning_rate": 0.1, "momentum": 0.5}, {"includes": [Inclusion("sgd", "momentum", _sgd_to_heavy_ball, exact=True)]}, r"includes takes Inclusion\(narrow, 'new-preset'"),
    (HEAVY_BALL, {"learning_rate": 0.1, "momentum": 0.5}, {"includes": [Inclusion("no-such", "new-preset", _sgd_to_heavy_ball, exact=True)]}, r"unknown optimizer 'no-such'"),
    (HEAVY_BALL, {"learning_rate": 0.1, "momentum": 0.5}, {"optimizer_class": torch.optim.SGD}, r"not a subclass of GeneralizedOptimizer"),
    ("momentum", {"learning_rate": 0.1}, {}, r"structure must be an UpdateStructure"),
]


@pytest.mark.parametrize(("structure", "defaults", "kwargs", "match"), BAD, ids=[str(i) for i in range(len(BAD))])
def test_register_preset_errors_register_nothing(isolated_registries, structure, defaults, kwargs, match):
    names = optimizers.names()
    inclusions = optimizers.list_inclusions()
    with pytest.raises(ValueError, match=match):
        optimizers.register_preset("new-preset", structure, defaults, **kwargs)
    assert optimizers.names() == names and optimizers.list_inclusions() == inclusions


def test_register_preset_refuses_a_taken_name_unless_overwrite(isolated_registries):
    with pytest.raises(ValueError, match="optimizer 'sgd' is already registered; pass overwrite=True"):
        optimizers.register_preset("sgd", HEAVY_BALL, {"learning_rate": 0.1, "momentum": 0.5})
    with pytest.raises(ValueError, match="not usable as a path component"):
        optimizers.register_preset("a/b", HEAVY_BALL, {"learning_rate": 0.1, "momentum": 0.5})


def test_a_subclass_runs_its_own_step_and_is_not_bundled(isolated_registries):
    class Counting(optimizers.GeneralizedOptimizer):
        steps = 0

        def step(self, closure=None):
            Counting.steps += 1
            return super().step(closure)

    optimizers.register_preset("counting-sgd", HEAVY_BALL, {"learning_rate": 0.1, "momentum": 0.0}, optimizer_class=Counting)
    p = torch.nn.Parameter(torch.ones(2))
    opt = optimizers.create("counting-sgd", [p])
    assert type(opt) is Counting
    p.grad = torch.ones(2)
    opt.step()
    assert Counting.steps == 1
    assert optimizers.bundle_structure("counting-sgd") is None  # BundledUpdate would skip step()
    optimizers.register_preset(
        "counting-sgd-2", HEAVY_BALL, {"learning_rate": 0.1, "momentum": 0.0}, optimizer_class=Counting, bundlable=True
    )
    assert optimizers.bundle_structure("counting-sgd-2") == HEAVY_BALL


@pytest.mark.parametrize("bad", ["a/b", "x=y", "", ".hidden", "two words"])
def test_registered_names_must_be_path_safe(bad):
    spec = optimizers.get_spec("sgd")
    with pytest.raises(ValueError, match="not usable as a path component"):
        optimizers.register(optimizers.OptimizerSpec(bad, spec.factory, dict(spec.defaults)))




def test_a_builtin_factory_from_get_spec_builds_the_preset():
    """``get_spec(name).factory`` (torch keywords) is what ``create`` calls: same class,
    structure and doc, and the same trajectory bit for bit."""
    from optimizers.presets import DOCS, STRUCTURES

    spec = optimizers.get_spec("sgd")
    built = [torch.nn.Parameter(torch.ones(3, dtype=torch.float64)) for _ in range(2)]
    direct = spec.factory([built[0]], lr=0.1, weight_decay=0.01)
    created = optimizers.create("sgd", [built[1]], learning_rate=0.1, weight_decay=0.01)
    assert type(direct) is type(created) is optimizers.GeneralizedOptimizer
    assert direct.structure == created.structure == STRUCTURES["sgd"]
    assert spec.factory.__doc__ == DOCS["sgd"]
    for p, opt in zip(built, (direct, created), strict=True):
        for step in range(3):
            p.grad = torch.full((3,), 0.5 + step, dtype=torch.float64)
            opt.step()
    assert torch.equal(built[0], built[1])


# --------------------------------------------------------------------------------------------
# Per-preset docs (Choi et al. 2019, section 2)
# --------------------------------------------------------------------------------------------

KEY_EQUATIONS = {
    "sgd": ["theta <- theta - eta_t * g"],
    "momentum": ["v <- gamma*v + g", "theta <- theta - eta_t * v", "v0 = 0"],
    "nesterov": ["v <- gamma*v + g", "theta <- theta - eta_t * (gamma*v + g)"],
    "rmsprop": ["v <- rho*v + (1-rho)*g^2", "m <- gamma*m + eta_t * g / sqrt(v + eps)", "theta <- theta - m", "v0 = 1"],
    "adam": ["m <- beta1*m + (1-beta1)*g", "sqrt(1 - beta2^(t+1)) / (1 - beta1^(t+1))", "m / (sqrt(v) + eps)"],
    "nadam": ["(beta1*m + (1-beta1)*g) / (sqrt(v) + eps)", "no momentum-decay schedule"],
}


@pytest.mark.parametrize("name", sorted(KEY_EQUATIONS))
def test_each_preset_documents_its_own_update(name):
    spec = optimizers.get_spec(name)
    assert spec.factory.__doc__ and spec.doc
    for equation in KEY_EQUATIONS[name]:
        assert equation in spec.doc, f"{name}'s doc lacks {equation!r}"
    others = [n for n in KEY_EQUATIONS if n != name]
    assert all(spec.doc != optimizers.get_spec(n).doc for n in others)
    assert "decoupled_weight_decay" in spec.doc and "weight_decay * theta" in spec.doc


def test_structure_equations_of_the_builtins():
    from optimizers.presets import STRUCTURES

    assert STRUCTURES["rmsprop"].equations().splitlines()[2:] == [
        "v <- rho*v + (1-rho)*g^2   (v0 = 1)",
        "m <- momentum*m + eta_t * g / sqrt(v + eps)   (m0 = 0)",
        "theta <- theta - m",
    ]
    assert STRUCTURES["nadam"].equations().splitlines()[-1] == (
        "theta <- theta - eta_t * sqrt(1 - beta2^(t+1)) / (1 - beta1^(t+1)) * (beta1*m + (1-beta1)*g) / (sqrt(v) + eps)"
    )


@pytest.mark.parametrize(
    ("switches", "fragment"),
    [
        # An epsilon beside a second moment that the structure does not have: refused when the
        # structure is made, not at the first step of a registered preset.
        (("momentum", False, False, None, 0.0, "inside", "outside", False), "eps_placement='inside' needs a second moment"),
        (("beta1", True, False, None, 0.0, "outside", "outside", True), "eps_placement='outside' needs a second moment"),
        (("momentum", False, False, "rho", 1.0, "under", "outside", False), "eps_placement='under' is not one of"),
        (("momentum", False, False, None, 0.0, "none", "before", False), "lr_placement='before' is not one of"),
    ],
)
def test_structures_the_update_cannot_run_are_refused(switches, fragment):
    with pytest.raises(InputError, match=fragment):
        UpdateStructure(*switches)
