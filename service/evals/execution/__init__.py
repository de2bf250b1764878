"""The worker side of eval runs (ctl queue): ``runner`` claims a run and gives it up,
``attempt`` executes one claimed attempt, ``sources`` reads its rows, ``item_grading`` samples
and grades one row, ``work_store`` makes the fenced writes, ``tally`` counts the report from the
stored items, and ``reconciler`` re-queues runs whose task or worker was lost."""
