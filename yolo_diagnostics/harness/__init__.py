"""The contract harness both families share: `Property`, `ContractFailure`, the Hypothesis
runner (`runner.run_property`, `runner.run_properties`) and case data (`cases`)."""
