"""Reading, checking, engineering and storing the records: sources, Pandera contracts, features, the lake."""
