"""`imhi check` and `imhi data`: real commands on real files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_check_passes_on_the_repo(cli) -> None:
    code, out, err = cli("check")
    assert code == 0, err
    assert "tasks and" in out and "recipes are valid" in out


def _recipes_copy(tmp_path: Path) -> Path:
    root = tmp_path / "recipes"
    (root / "build_dataset").mkdir(parents=True)
    shutil.copy(REPO / "build_dataset/sample-reference.yaml", root / "build_dataset/ok.yaml")
    return root


def test_check_reports_misspelled_recipe_key(tmp_path: Path, cli) -> None:
    root = _recipes_copy(tmp_path)
    bad = root / "build_dataset/bad.yaml"
    bad.write_text("name: x\nmode: reference\nsorces: []\n", encoding="utf-8")
    code, _, err = cli("check", "--recipes", str(root))
    flat = err.replace("\n", "")
    assert code == 1 and str(bad) in flat and "sorces" in flat and "unknown key" in flat


def _prompts_copy(tmp_path: Path, task: str = "dr") -> Path:
    root = tmp_path / "prompts"
    shutil.copytree(REPO / "prompts" / task, root / task)
    return root


def test_check_reports_unknown_example_label(tmp_path: Path, cli) -> None:
    root = _prompts_copy(tmp_path)
    ex = root / "dr/examples.yaml"
    ex.write_text(ex.read_text().replace('label: "no"', 'label: "perhaps"', 1), encoding="utf-8")
    code, _, err = cli("check", "--prompts", str(root), "--recipes", str(_recipes_copy(tmp_path)))
    flat = err.replace("\n", "")
    assert code == 1 and "examples.yaml, row 3, field 'label'" in flat and "'perhaps'" in flat


def test_check_reports_misspelled_task_key(tmp_path: Path, cli) -> None:
    root = _prompts_copy(tmp_path)
    t = root / "dr/task.yaml"
    t.write_text(t.read_text().replace("multi_label:", "multilabel:"), encoding="utf-8")
    code, _, err = cli("check", "--prompts", str(root), "--recipes", str(_recipes_copy(tmp_path)))
    assert code == 1 and "multilabel" in err and "task.yaml" in err


def test_data_inspect_reports_counts_duplicates_leakage(tmp_path: Path, cli) -> None:
    train, test = tmp_path / "train.csv", tmp_path / "test.csv"
    train.write_text("text,label\nalpha,yes\nAlpha!,yes\nbeta,no\n", encoding="utf-8")
    test.write_text("text,label\nbeta,no\ngamma,yes\n", encoding="utf-8")
    code, out, err = cli("data", "inspect", str(train), str(test), "--task", "dr")
    assert code == 0, err
    assert "5 posts" in out and "duplicate groups: 2" in out
    assert "train posts that also appear in valid/test: 1" in out


def test_data_convert_writes_records(tmp_path: Path, cli) -> None:
    src = tmp_path / "d.tsv"
    src.write_text("内容\t非此即彼\t放大\n一切都完了\t1\t1\n", encoding="utf-8")
    out_path = tmp_path / "o.jsonl"
    code, _, err = cli("data", "convert", str(src), "--task", "cn_cognitive_distortion", "-o", str(out_path),
                       "--set", "columns.text=内容", "--set", "label_columns=[非此即彼, 放大]")
    assert code == 0, err
    row = json.loads(out_path.read_text(encoding="utf-8").splitlines()[0])
    assert row["text"] == "一切都完了" and row["label"] == ["非此即彼", "放大"]


def test_data_inspect_bad_column_is_clear(tmp_path: Path, cli) -> None:
    src = tmp_path / "d.csv"
    src.write_text("body,label\nx,yes\n", encoding="utf-8")
    code, _, err = cli("data", "inspect", str(src), "--task", "dr")
    assert code == 2 and "missing column 'text'" in err and "row 1" in err


# Issue 14 item 7: one source resolution (data_dir, overrides, paths relative to the recipe)
# for `imhi build`, `imhi data inspect` and `imhi data convert`, run from another folder.

def _data_dir_recipe(tmp_path: Path) -> Path:
    data = tmp_path / "corpus" / "train"
    data.mkdir(parents=True)
    (data / "posts.csv").write_text("text,label,explanation\nI cannot get up any more,yes,The poster feels "
                                    "hopeless every day.\nLovely walk today,no,The poster enjoys the day.\n")
    recipe = tmp_path / "recipes" / "build_dataset" / "r.yaml"
    recipe.parent.mkdir(parents=True)
    recipe.write_text("name: r\nmode: reference\ndata_dir: ../../corpus   # relative to this file\n"
                      "sources: [{name: s, format: csv, task: dr, path: train/posts.csv,\n"
                      "           columns: {explanation: explanation}}]\n"
                      "filters: {use: [empty]}\nsplit: {valid: 0.0, test: 0.0}\n")
    return recipe


def test_data_dir_resolves_alike_in_inspect_convert_and_build(tmp_path: Path) -> None:
    from _cli_process import imhi_process, one_line_error

    recipe, elsewhere = _data_dir_recipe(tmp_path), tmp_path / "cwd"
    elsewhere.mkdir()
    inspect = imhi_process("data", "inspect", str(recipe), cwd=elsewhere)
    assert inspect.returncode == 0 and "2 posts" in inspect.stdout, inspect.stderr
    out = tmp_path / "o.jsonl"
    convert = imhi_process("data", "convert", str(recipe), "-o", str(out), cwd=elsewhere)
    assert convert.returncode == 0 and len(out.read_text().splitlines()) == 2, convert.stderr
    build = imhi_process("build", str(recipe), "--out", str(tmp_path / "run"), cwd=elsewhere)
    assert build.returncode == 0, build.stderr
    assert len((tmp_path / "run" / "dataset" / "train.jsonl").read_text().splitlines()) == 2
    moved = tmp_path / "moved"
    (tmp_path / "corpus").rename(moved)
    for args in (("data", "inspect", str(recipe)), ("build", str(recipe), "--out", str(tmp_path / "run2"))):
        one_line_error(imhi_process(*args, cwd=elsewhere), str(tmp_path / "recipes" / "build_dataset" /
                                                                "../../corpus/train/posts.csv"), "file not found")
    again = imhi_process("data", "inspect", str(recipe), "--set", f"data_dir={moved}", cwd=elsewhere)
    assert again.returncode == 0 and "2 posts" in again.stdout, again.stderr
    built = imhi_process("build", str(recipe), f"data_dir={moved}", "--out", str(tmp_path / "run3"), cwd=elsewhere)
    assert built.returncode == 0, built.stderr


def test_data_inspect_reads_the_shipped_recipe_data_dir(shared_data: Path) -> None:
    from _cli_process import imhi_process

    proc = imhi_process("data", "inspect", "build_dataset/imhi-dr-dreaddit.yaml", "--show", "0")
    assert proc.returncode == 0, proc.stderr
    assert "5389 posts" in proc.stdout


# Issue 14 item 8: `imhi check` validates train recipes' sft: keys against trl.SFTConfig.

def _train_recipes(tmp_path: Path, sft_key: str) -> Path:
    root = tmp_path / "recipes"
    (root / "train").mkdir(parents=True)
    text = (REPO / "train/demo.yaml").read_text(encoding="utf-8").replace("learning_rate:", f"{sft_key}:", 1)
    (root / "train" / "t.yaml").write_text(text, encoding="utf-8")
    return root


def test_check_names_a_misspelled_sft_key(tmp_path: Path) -> None:
    from _cli_process import imhi_process

    proc = imhi_process("check", "--recipes", str(_train_recipes(tmp_path, "learning_rat")))
    text = proc.stdout + proc.stderr
    assert proc.returncode == 1 and "Traceback" not in text, text
    lines = [line for line in text.splitlines() if line.startswith("✗")]
    assert len(lines) == 1, text
    assert "t.yaml, field 'stages.0.sft.learning_rat': unknown trl.SFTConfig field 'learning_rat'; " \
           "did you mean 'learning_rate'?" in lines[0]
    assert imhi_process("check", "--recipes", str(_train_recipes(tmp_path / "ok", "learning_rate"))).returncode == 0


def test_check_without_trl_says_what_it_skipped(tmp_path: Path) -> None:
    from _cli_process import imhi_process

    proc = imhi_process("check", "--recipes", str(_train_recipes(tmp_path, "lr")),
                        prelude="sys.modules.update(trl=None, torch=None)")  # as if neither were installed
    assert proc.returncode == 0, proc.stderr
    assert "skipped: train recipes' sft: keys not checked against trl.SFTConfig: trl is not installed" in \
        proc.stderr.replace("\n", " ")


# Issue 17 item 5: `imhi check` says what it checked; empty or missing folders are errors; eval
# recipes are checked against the tasks and their test files (no model loaded).

def _eval_recipes(tmp_path: Path, csv_text: str, **test_set: object) -> Path:
    from imhi.io import dump_yaml

    root = tmp_path / "recipes"
    (root / "evaluate").mkdir(parents=True)
    (tmp_path / "si.csv").write_text(csv_text, encoding="utf-8")
    ts = {"name": "si", "path": "../../si.csv", "format": "labelled_csv", "tasks": ["safety_si_binary"], **test_set}
    (root / "evaluate" / "e.yaml").write_text(dump_yaml({
        "name": "e", "data_dir": ".", "test_sets": [ts],
        "models": [{"name": "m", "model": {"path": "/no/such/model"}}]}), encoding="utf-8")
    return root


GOOD_CSV = "Safety type,statement\npassive_si,I would rather not wake up.\nclearly_happy,Sunny and glad.\n"


def test_check_names_the_folders_it_checked(tmp_path: Path, cli) -> None:
    prompts = _prompts_copy(tmp_path, "safety_si_binary")
    root = _eval_recipes(tmp_path, GOOD_CSV)
    code, out, err = cli("check", "--prompts", str(prompts), "--recipes", str(root))
    assert code == 0, err  # the model path is not looked at: check loads no model
    flat = " ".join(out.split())
    assert f"prompts: {prompts.resolve()} (1 tasks)" in flat
    assert f"recipes: {root.resolve()} (build_dataset/ 0, train/ 0, evaluate/ 1)" in flat


def test_check_refuses_a_missing_or_empty_prompts_folder(tmp_path: Path, cli) -> None:
    root = _recipes_copy(tmp_path)
    code, out, err = cli("check", "--prompts", str(tmp_path / "nonexistent"), "--recipes", str(root))
    assert code == 2 and "✓" not in out and len(err.strip().splitlines()) == 1
    assert "nonexistent: prompts folder not found; set it with --prompts, IMHI_PROMPTS" in err
    (tmp_path / "empty").mkdir()
    code, out, err = cli("check", "--prompts", str(tmp_path / "empty"), "--recipes", str(root))
    assert code == 2 and "✓" not in out and "no task folders" in err


def test_check_refuses_a_missing_or_empty_recipes_folder(tmp_path: Path, cli) -> None:
    prompts = _prompts_copy(tmp_path)
    code, out, err = cli("check", "--prompts", str(prompts), "--recipes", str(tmp_path / "nowhere"))
    assert code == 2 and "✓" not in out and "nowhere: recipes folder not found" in err
    (tmp_path / "bare" / "evaluate").mkdir(parents=True)
    code, out, err = cli("check", "--prompts", str(prompts), "--recipes", str(tmp_path / "bare"))
    assert code == 2 and "✓" not in out and "no recipe files in build_dataset/, train/, evaluate/" in err


def test_check_finds_an_eval_recipes_unknown_task(tmp_path: Path, cli) -> None:
    prompts = _prompts_copy(tmp_path, "safety_si_binary")
    root = _eval_recipes(tmp_path, GOOD_CSV, tasks=["safety_si_binray"])
    code, _, err = cli("check", "--prompts", str(prompts), "--recipes", str(root))
    flat = " ".join(err.split())
    assert code == 1 and "e.yaml, test_sets.0 (si)" in flat and "unknown task 'safety_si_binray'" in flat
    assert "set by a recipe's `prompts:`, `--prompts` or the IMHI_PROMPTS variable" in flat


def test_check_finds_a_missing_label_column(tmp_path: Path, cli) -> None:
    prompts = _prompts_copy(tmp_path, "safety_si_binary")
    root = _eval_recipes(tmp_path, GOOD_CSV, label_column="Safety level")
    code, _, err = cli("check", "--prompts", str(prompts), "--recipes", str(root))
    flat = " ".join(err.split())
    assert code == 1 and "si.csv, field 'Safety level': missing column (columns: Safety type, statement)" in flat


def test_check_finds_an_unknown_label_in_the_file(tmp_path: Path, cli) -> None:
    prompts = _prompts_copy(tmp_path, "safety_si_binary")
    root = _eval_recipes(tmp_path, GOOD_CSV + "very_sad,Grey week.\n")
    code, _, err = cli("check", "--prompts", str(prompts), "--recipes", str(root))
    flat = " ".join(err.split())
    assert code == 1 and "si.csv, row 3, field 'Safety type': unknown label 'very_sad'" in flat


def test_check_finds_an_unknown_prompt_template(tmp_path: Path, cli) -> None:
    prompts = _prompts_copy(tmp_path, "safety_si_binary")
    root = _eval_recipes(tmp_path, GOOD_CSV, prompt={"template": "sentense"})
    code, _, err = cli("check", "--prompts", str(prompts), "--recipes", str(root))
    assert code == 1 and "did you mean 'sentence'?" in " ".join(err.split())
