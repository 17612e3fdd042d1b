"""GCPC's launcher contract, pure: what a custom-job task of a compiled pipeline is.

- :mod:`.contract`: the launcher container (image, arguments, ``--payload``,
  ``gcp_resources``) and the placeholders it names.
- :mod:`.placeholders`: the Vertex Pipelines backend's placeholder substitution
  and the launcher's own parse of the payload text (drop-empties included).
- :mod:`.payload`: the one function that turns a task's payload and executor
  input into the CustomJob the launcher creates (used by checks and the runner).
- :mod:`.executor_input`: a task's ExecutorInput and reading its outputs back.
- :mod:`.pipeline_spec`: reading a compiled pipeline file.

No Docker, no network, no kfp: the converter and the pipeline runner both build
on it, so the runner never imports the converter.
"""
