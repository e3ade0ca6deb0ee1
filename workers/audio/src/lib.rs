//! Playback and record channels (Opus/raw PCM, volume, latency, mm-time): filled by a later issue.
