# Input functions and constants of bundle.smk's rules (Snakemake's lint keeps functions
# out of files with rules).


# What the bundle writes into its manifest: the settings that made its inputs (locked), the
# network's, the threshold, and which rows of the cross-validation's summary it carries.
BUNDLE_SETTINGS = derived.as_json(derived.bundle_settings(config))


def bundle_inputs(wildcards=None):
    """The network's models that score new patients (the network is weighed by every method
    the run may ship: the fold models when `last` is a candidate), and deploy's fit."""
    network = not DEPLOYED or FUSION_SETTINGS["network"]
    return {
        "models": prediction_models() if network else [],
        "deployed": [paths.DEPLOYED] if DEPLOYED else [],
    }
