"""Methods beside the network: radiomics and one-number baselines, clinical values, the fused model."""
