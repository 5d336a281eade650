"""The run engine: a DAG of steps advanced on Celery, one short transaction per transition.

By topic:
- `graph` — a run's steps and edges, cached per process (versions and run contexts never change);
- `dispatch` — admitting a run, advancing its DAG (queue, skip, finish), sending steps to Celery;
- `worker` — a delivery on the worker: claim, resolve inputs, run the satellite;
- `completion` — recording an attempt's outcome and advancing the run from it;
- `reaper` — timing out lost steps, re-sending lost messages, repairing crashed follow-ups;
- `transactions`, `logs`, `events` — the row lock and retries, step log lines, run status events.

Every transition of a run happens under its row lock, so concurrent completions never race
and no worker waits for another task. Operator actions (trigger, cancel, retry, executions)
are services (`orchestration.services`), the write surface views, the admin and tasks call;
they use the engine, the engine never uses them.
"""
