"""The lane node: config, device runtime, inference core, store, lane terminal, the `kouan` command."""
