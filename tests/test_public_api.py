"""The import paths plugin authors and programs use stay where they are (docs/architecture.md lists them)."""

from __future__ import annotations

import importlib
import inspect

import pytest

#: module -> names that third-party plugins, their tests and programs embedding translate import from it.
PUBLIC = {
    "translate": ["hookimpl", "__version__", "DISTRIBUTION"],
    "translate.objective": ["Objective", "CriticOutput", "CriticFn", "CriticKind", "per_sample", "bce_with_logits",
                            "relative_score", "mean_score"],
    "translate.options": ["OptionError", "parse_options", "WEIGHT", "WIDTH", "COUNT", "RATE", "check_counts"],
    "translate.run_logger": ["RunLogger"],
    "translate.train.loggers": ["RunLogger"],
    "translate.models.base": ["Model", "ObjectiveFactory"],
    "translate.models.generators": ["build_translator_net"],
    "translate.nets": ["init_weights", "PadCrop", "build_generator", "build_critic"],
    "translate.data": ["UnpairedDataset", "AlignedDataset", "DataError", "load_rgb", "to_pil", "to_tensor"],
    "translate.data.images": ["to_pil", "to_tensor", "load_rgb", "list_images"],
    "translate.data.photo_tasks": ["load_photo", "random_tiles", "side_by_side", "held_out_pairs"],
    "translate.data.sample": ["SAMPLE_COUNTS", "SAMPLE_ROOT", "apply_sample_mapping"],
    "translate.convert": ["Translator", "ConvertReport"],
    "translate.testing": ["check_objective"],
    "translate.pytest_plugin": ["check_objective"],
    "translate.plugin_host.hookspecs": ["translate_objectives", "translate_models", "translate_loggers"],
}


@pytest.mark.parametrize("module", sorted(PUBLIC))
def test_each_public_name_imports_from_where_users_import_it(module):
    loaded = importlib.import_module(module)
    missing = [name for name in PUBLIC[module] if not hasattr(loaded, name)]
    assert not missing, f"{module} lacks {missing}"


def test_the_logger_contract_is_one_class_wherever_it_is_imported_from():
    from translate.run_logger import RunLogger
    from translate.train.loggers import RunLogger as ReExported

    assert ReExported is RunLogger


def test_the_translator_is_one_class_wherever_it_is_imported_from():
    from translate.convert import Translator
    from translate.convert.translator import Translator as Defined

    assert Translator is Defined and inspect.getmodule(Translator).__name__ == "translate.convert.translator"


def test_an_unknown_name_of_the_convert_package_is_an_attribute_error():
    import translate.convert

    with pytest.raises(AttributeError, match="has no attribute 'Translater'"):
        translate.convert.Translater  # noqa: B018
