"""Audio and file I/O: reading and checking audio, ids and run files, reference statistics, the resampler."""
