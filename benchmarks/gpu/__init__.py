"""``python -m benchmarks.gpu --budget 480 --out DIR``: every GPU case in one time-boxed command.

It checks the environment first (:mod:`.environment`: CUDA, versions, free memory; one line naming what is missing),
then runs the cases of :mod:`.cases` in order of importance, each in a worker process with its own time box
(:mod:`.worker`), until the budget is spent; what did not fit is listed as not run. It writes ``gpu.json`` and
``gpu.md`` (:mod:`.report`), naming the card, driver and versions. Models and evaluators carry random weights in
the official layouts, written on the machine (nothing is downloaded). ``--device cpu`` runs every case at tiny sizes
(:data:`.cases.SMOKE`) so that the command is exercised in CI; ``python -m benchmarks.gpu.wheels`` prepares the folder
of wheels the CUDA image lacks.
"""
