import numpy as np
import pytest

from nidslab import schema
from conftest import shared_file


def test_115_names_in_five_groups():
    assert len(schema.FEATURE_NAMES) == 115
    assert len(set(schema.FEATURE_NAMES)) == 115
    sizes = {g: len(schema.features_in(g)) for g in schema.GROUPS}
    assert sizes == {"MI_dir": 15, "H": 15, "HH": 35, "HH_jit": 15, "HpHp": 35}
    assert schema.FEATURE_NAMES[0] == "MI_dir_L5_weight"
    assert schema.FEATURE_NAMES[-1] == "HpHp_L0.01_pcc"


def test_names_equal_the_n_baiot_header():
    path = shared_file("n-baiot", "danmini_doorbell_3300rows.csv")
    header = path.open().readline().strip().split(",")
    assert tuple(header[:115]) == schema.FEATURE_NAMES


def test_lab_rule_equals_dropping_24_columns_of_the_116_column_csv():
    # Column j of the 116-column CSV holds feature j-1; the lab keeps X[:, 24:].
    csv_columns = ["index", *schema.FEATURE_NAMES]
    assert tuple(csv_columns[24:]) == schema.select("lab")
    assert schema.select("lab")[0] == "H_L1_variance"
    assert len(schema.select("lab")) == 92


def test_select_by_group_name_and_mixture_keeps_released_order():
    assert schema.select("HH_jit") == schema.features_in("HH_jit")
    mixed = schema.select(["HpHp_L5_pcc", "H"])
    assert mixed[-1] == "HpHp_L5_pcc" and len(mixed) == 16
    assert schema.select("all") == schema.FEATURE_NAMES == schema.select(None)
    assert schema.select("MI_dir_L5_weight,HH_L1_pcc") == ("MI_dir_L5_weight", "HH_L1_pcc")


def test_select_unknown_name_raises_naming_it():
    with pytest.raises(KeyError, match="HH_L7_weight"):
        schema.select("HH_L7_weight")


def test_group_of_distinguishes_prefixes():
    assert schema.group_of("HH_jit_L1_mean") == "HH_jit"
    assert schema.group_of("HH_L1_mean") == "HH"
    assert schema.group_of("H_L1_mean") == "H"
    assert schema.group_of("HpHp_L1_mean") == "HpHp"


def test_indices_select_columns_of_an_array():
    X = np.arange(115, dtype=np.float32)[None, :].repeat(3, axis=0)
    cols = schema.indices(schema.select("lab"))
    assert X[:, cols][0, 0] == 23
