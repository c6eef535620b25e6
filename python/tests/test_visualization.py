"""`visualize_job`: the task graph as Graphviz dot text."""

from hyperqueue import Job
from hyperqueue.visualization import visualize_job


def test_dot_text_has_nodes_and_dependency_edges():
    job = Job()
    a = job.program(["true"], name='load "raw"')
    b = job.function(print, deps=[a])
    job.program(["true"], deps=[a, b], name="report")
    assert visualize_job(job) == (
        "digraph job {\n"
        '  t0 [label="0 (load \\"raw\\")"];\n'
        '  t1 [label="1"];\n'
        '  t2 [label="2 (report)"];\n'
        "  t0 -> t1;\n"
        "  t0 -> t2;\n"
        "  t1 -> t2;\n"
        "}\n"
    )
