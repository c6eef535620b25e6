"""The task graph of a job as Graphviz dot text (render it with `dot -Tsvg`)."""

from .job import Job


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def visualize_job(job: Job) -> str:
    """One node per task (labelled with its ID and name), an edge from each dependency to the
    task that needs it."""
    lines = ["digraph job {"]
    for task in job.tasks:
        lines.append(f"  t{task.task_id} [label={_quote(task.label)}];")
    for task in job.tasks:
        for dep in task._dep_ids():
            lines.append(f"  t{dep} -> t{task.task_id};")
    lines.append("}")
    return "\n".join(lines) + "\n"
