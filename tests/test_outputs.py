"""The one check every command makes on its --output file before doing any work."""
from simcse.outputs import output_problem


def test_new_file_in_existing_or_new_folder_is_fine(tmp_path):
    assert output_problem(tmp_path / "out.json", overwrite=False) is None
    assert output_problem(tmp_path / "new" / "deeper" / "out.json", overwrite=False) is None


def test_folder_is_refused_with_a_file_name_to_use(tmp_path):
    problem = output_problem(tmp_path, overwrite=True, example="eval.json")
    assert "is a folder" in problem and repr(str(tmp_path / "eval.json")) in problem


def test_existing_file_needs_overwrite(tmp_path):
    out = tmp_path / "out.json"
    out.write_text("kept")
    assert "exists; pass --overwrite to replace it" in output_problem(out, overwrite=False)
    assert output_problem(out, overwrite=True) is None
    assert out.read_text() == "kept"  # checking never touches the file


def test_an_input_is_never_replaced_even_with_overwrite(tmp_path):
    src = tmp_path / "sentences.txt"
    src.write_text("a\n")
    problem = output_problem(tmp_path / "." / "sentences.txt", overwrite=True, inputs=[src], input_name="the --file it reads")
    assert "is the --file it reads" in problem
    # an input that does not exist (yet) is no match
    assert output_problem(tmp_path / "other.txt", overwrite=True, inputs=[tmp_path / "missing.txt"]) is None


def test_parent_that_is_a_file_is_refused(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    problem = output_problem(blocker / "sub" / "out.json", overwrite=False)
    assert problem and "is not a directory" in problem and "a_file" in problem
