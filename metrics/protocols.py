"""Evaluation protocols as data: which evaluator, distance and settings each paper or tool used.

A :class:`Protocol` is one paper's or tool's recipe: a tuple of :class:`MetricSpec`, each naming the metric kind (an
entry of the metric registry in ``metrics.run``), the embedder (an entry of the embedder registry), the options the
embedder is built with (they change its output, so they are part of the cache key), the options of the distance,
the reference implementation it mirrors and, in words, every way sa-bench's computation differs from it.
``--protocol NAME`` picks one; ``--model NAME`` re-targets its embedding distances (fd, kad, fad-inf, fd-per-song)
by hand. The result keys (``MetricSpec.key``) are the column names of the rows ``Protocol.published`` names in
``reports/paper_numbers.json`` (``Protocol.published_keys`` maps a column named otherwise, as audiocraft's
``kld_pq`` reads the MusicGen rows' ``kl``), so our numbers sit beside the published ones.

Pure data: importing this module imports no model and touches no file.

Sources (the reference code each recipe was read from, at the versions named):
* stable-audio: Stability-AI/stable-audio-metrics ``src/{openl3_fd,passt_kld,clap_score}.py`` (fd55536).
* musicgen, audiocraft: facebookresearch/audiocraft ``config/solver/musicgen/default.yaml`` (metrics.fad.tf,
  kld.passt pretrained_length 20, text_consistency.clap music_audioset_epoch_15_esc_90.14.pt HTSAT-base no fusion),
  ``audiocraft/metrics/{fad,kld,clap_consistency}.py`` (audiocraft 1.3.0), ``audiocraft/data/audio_utils.py``
  (``convert_audio``: julius ``resample_frac``, then the channel mean), ``docs/METRICS.md``; google-research
  ``frechet_audio_distance/{audioset_model,create_embeddings_main}.py`` (peak normalisation, 1 s windows every
  8000 samples); tensorflow/models ``vggish_slim.py`` (``fc2`` without activation, no PCA).
* audioldm: haoheliu/audioldm_eval main (``eval.py``: PANNs Cnn14 16 kHz, ``"2048"`` FD, KL softmax/sigmoid on
  ``"logits"`` paired by file name, IS 10 splits seed 2020; ``metrics/fad.py``: torchvggish, no PCA, last ReLU
  dropped); declare-lab/tango ``inference.py`` evaluates with ``EvaluationHelper(16000, ...)``.
* audioldm2: the audioldm_eval branch ``passt_replace_panns`` (PaSST on the first 10 s, CLAP
  ``music_speech_audioset_epoch_15_esc_89.98.pt`` HTSAT-base), which the AudioLDM 2 author names as the one behind
  the paper's numbers (haoheliu/AudioLDM2#76).
* tta-bench: NKU-HLT/TTA-Bench-tools ``cal_aes/2_cal_all_aes_score.py`` (``audio-aes`` CLI of audiobox-aesthetics,
  batch size 32, per file CE/CU/PC/PQ) and ``cal_aes/3_cal_mean_aes_score.py`` (plain mean per axis over the files of
  a system); facebookresearch/audiobox-aesthetics 0.0.4 ``infer.py``, ``model/aes.py``.
* fadtk: microsoft/fadtk 1.1.0 (FAD with a chosen model, ``--inf``, ``--indiv``; ``model_loader.py`` for the
  encodec-emb / dac-44kHz / MERT embeddings); kadtk 1.1.0 (KAD; ``model_loader.py`` ``PaSSTModel`` / ``PANNsModel``
  and ``emb_loader.py`` for the passt-* / panns-* embeddings; ``models/panns/models.py`` ``Cnn14`` and
  ``Wavegram_Logmel_Cnn14``).
* mad: i-need-sleep/mad, PyPI mad-metric 0.0.6 (``compute_mad.py``, ``embedding_models.py``), over mauve-text 0.4.0.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

Options = tuple[tuple[str, Any], ...]  # sorted (name, value) pairs: hashable, immutable, JSON-able as a dict


def options(**values: Any) -> Options:
    """``options(a=1, b=2)`` -> ``(("a", 1), ("b", 2))``: the frozen form of a settings dict."""
    return tuple(sorted(values.items()))


# Metric kinds the runner implements (keys of its metric registry).
METRIC_KINDS = ("fd", "kad", "fad-inf", "fd-per-song", "kl", "kl-segments", "clap", "timing", "is", "aesthetics",
                "pam", "mad")
# Kinds that are a distance between embedding distributions: ``--model`` chooses their embedder.
EMBEDDING_KINDS = ("fd", "kad", "fad-inf", "fd-per-song", "mad")
# Embedders (keys of the embedder registry). openl3/vggish/panns/clap give embeddings fit for the distances.
# fadtk's codec (EnCodec, DAC) and MERT embeddings under fadtk's names (MERT-v1-95M-<L>: hidden state L;
# MERT-v1-330M: MAD's)
FADTK_MODELS = ("encodec-emb", "encodec-emb-48k", "dac-44kHz", "MERT-v1-95M",
                *(f"MERT-v1-95M-{layer}" for layer in range(1, 12)), "MERT-v1-330M")
# kadtk's PaSST and PANNs embeddings under kadtk's names (the KAD paper's models)
KADTK_MODELS = ("passt-base-10s", "passt-base-20s", "passt-base-30s", "passt-openmic", "passt-fsd50k",
                "panns-cnn14-16k", "panns-cnn14-32k", "panns-wavegram-logmel")
MODELS = ("openl3", "vggish", "panns", "clap", "passt", "aesthetics", "msclap", "clap-laion-audio", "clap-laion-music",
          *FADTK_MODELS, *KADTK_MODELS)
EMBEDDING_MODELS = ("openl3", "vggish", "panns", "clap", "msclap", "clap-laion-audio", "clap-laion-music",
                    *FADTK_MODELS, *KADTK_MODELS)
# PAM's two opposing prompts (soham97/PAM ``PAM/PAM.py`` PAM_PROMPTS): the score is the first one's probability
PAM_PROMPTS = ("the sound is clear and clean.", "the sound is noisy and with artifacts.")
BENCHMARKS = ("musiccaps", "audiocaps", "songdescriber")

# Distance options of each kind when a protocol does not set them (the reference tool's defaults).
DISTANCE_DEFAULTS: dict[str, Options] = {
    "fd": options(output="embedding", pool="frames of all files", sqrtm="scipy, eps 1e-6 retry"),
    "kad": options(output="embedding", kernel="gaussian", bandwidth=None,  # None: median distance, evaluated set
                   estimator="unbiased MMD^2", scale=100.0),
    "fad-inf": options(output="embedding", steps=25, min_n=500, replace=True, seed=0, fit="FD ~ 1/n"),
    "fd-per-song": options(output="embedding", min_frames=2),
    "kl": options(output="probabilities", direction="gen||ref", eps=1e-6, pairing="id"),
    "kl-segments": options(output="probabilities", direction="ref||gen", eps=1e-6,
                           pairing="id, then segment k with segment k", mean="over all segment pairs"),
    "clap": options(output="embedding", score="mean cosine over ids with a caption"),
    "timing": options(detector="energy threshold (metrics.scores.timing)"),
    "is": options(output="logits", activation="softmax", splits=10, shuffle_seed=2020),
    "aesthetics": options(output="PQ", score="mean over files of each file's length-weighted window mean"),
    "pam": options(output="embedding", prompt_clean=PAM_PROMPTS[0], prompt_noisy=PAM_PROMPTS[1], repro=False,
                   score="softmax over the prompts of logit_scale * cosine, first prompt; mean over clips, files"),
    # mad-metric 0.0.6 compute_mad -> mauve-text 0.4.0 compute_mauve defaults (metrics.scores.mauve)
    "mad": options(output="embedding", pool="max over frames", score="-log MAUVE(gen, ref)", num_buckets="auto",
                   explained_variance=0.9, num_redo=5, max_iter=500, discretization=25, scaling=5.0, seed=25),
}

# Embedder options used when ``--model`` picks an embedding by hand (the model's usual reference settings).
EMBEDDING_DEFAULTS: dict[str, Options] = {
    "openl3": options(content_type="music"),  # stable-audio-metrics: 2 channels at 44.1 kHz, 0.5 s hop
    "vggish": options(config="fadtk"),  # fadtk 1.1.0: torchvggish net, no PCA, last ReLU dropped
    "panns": options(sample_rate=16000),  # audioldm_eval default: Cnn14_16k
    "clap": options(checkpoint="630k-audioset-fusion"),  # one audio embedding per file
    "msclap": options(version="2023", chunks="pam"),  # one embedding per 7 s clip
    "clap-laion-audio": options(fadtk_model="clap-laion-audio"),  # fadtk 1.1.0: 630k-audioset-best, 10 s windows every 1 s
    "clap-laion-music": options(fadtk_model="clap-laion-music"),  # fadtk 1.1.0: music_audioset_epoch_15_esc_90.14, 10 s windows every 1 s
    "encodec-emb": options(variant="24k"),  # fadtk 1.1.0 EncodecEmbModel('24k')
    "encodec-emb-48k": options(variant="48k"),  # fadtk 1.1.0 EncodecEmbModel('48k')
    "dac-44kHz": options(),  # fadtk 1.1.0 DACModel(): DAC 44.1 kHz 0.0.1, -16 LUFS, 5 s windows every 2.5 s
    # fadtk 1.1.0 MERTModel(size='v1-95M', layer=L): layer 12 unless named
    **{name: options(size="v1-95M", layer=int(name.rsplit("-", 1)[1]) if name.count("-") == 3 else 12,
                     config="fadtk") for name in FADTK_MODELS if name.startswith("MERT-v1-95M")},
    "MERT-v1-330M": options(size="v1-330M", layer=24, config="mad"),  # mad-metric's embedding
    # kadtk 1.1.0 PaSSTModel(variant) / PANNsModel(variant): one vector per file
    **{name: options(kadtk_model=name) for name in KADTK_MODELS},
}


@dataclass(frozen=True)
class MetricSpec:
    """One number of a protocol: which metric on which embedding, with which settings."""

    key: str  # name in results JSON and in paper_numbers.json rows of this protocol, e.g. "fad"
    kind: str  # metric registry entry (METRIC_KINDS)
    model: str | None  # embedder registry entry (MODELS); None for timing
    label: str  # what papers call it, e.g. "FAD_vggish"
    higher_is_better: bool = False
    embedder: Options = ()  # keyword options the embedder factory is built with
    distance: Options = ()  # options of the distance/aggregate, over DISTANCE_DEFAULTS[kind]
    reference: str = ""  # the implementation this mirrors
    deviations: tuple[str, ...] = ()  # where sa-bench's computation differs from the reference, in words
    comparable: bool = True  # False once changed by hand (--model): then it sits beside no published number

    def embedder_options(self) -> dict[str, Any]:
        return dict(self.embedder)

    def distance_options(self) -> dict[str, Any]:
        return {**dict(DISTANCE_DEFAULTS[self.kind]), **dict(self.distance)}

    @property
    def output(self) -> str | None:
        """The part of the embedder's output this metric reads (a name of its registry entry's ``parts``)."""
        return self.distance_options().get("output")

    def settings(self) -> dict[str, Any]:
        """Every setting of this metric, JSON-able (goes into the results file)."""
        return {"kind": self.kind, "model": self.model, "label": self.label,
                "higher_is_better": self.higher_is_better, "embedder": self.embedder_options(),
                "distance": self.distance_options(), "reference": self.reference,
                "deviations": list(self.deviations), "comparable_to_published": self.comparable}


@dataclass(frozen=True)
class Protocol:
    """A paper's or tool's evaluation recipe."""

    name: str  # --protocol value
    title: str
    source: str  # tool / paper (version, commit)
    metrics: tuple[MetricSpec, ...]
    default_model: str  # embedder of embedding distances the protocol itself does not list
    published: str | None  # "protocol" value of the rows in reports/paper_numbers.json this protocol sits beside
    notes: tuple[str, ...] = ()
    model_override: str | None = None  # set by with_model
    # (column of the published rows, this protocol's metric key) where the two name one number differently, e.g.
    # audiocraft's kld_pq is the "kl" of the MusicGen rows
    published_keys: Options = ()

    def __post_init__(self) -> None:
        keys = [m.key for m in self.metrics]
        if len(set(keys)) != len(keys):
            raise ValueError(f"protocol {self.name}: duplicate metric keys {keys}")
        unknown = [ours for _, ours in self.published_keys if ours not in keys]
        if unknown:
            raise ValueError(f"protocol {self.name}: published_keys name no metric of it: {unknown}")
        for m in self.metrics:
            if m.kind not in METRIC_KINDS:
                raise ValueError(f"protocol {self.name}, {m.key}: unknown metric kind {m.kind!r}")
            if (m.kind == "timing") != (m.model is None) or (m.model is not None and m.model not in MODELS):
                raise ValueError(f"protocol {self.name}, {m.key}: model {m.model!r} does not fit kind {m.kind!r}")

    def metric(self, key: str) -> MetricSpec:
        for m in self.metrics:
            if m.key == key:
                return m
        raise KeyError(f"protocol {self.name} has no metric {key!r}; it has {[m.key for m in self.metrics]}")

    def select(self, kinds: Iterable[str]) -> tuple[MetricSpec, ...]:
        """The metrics of these kinds (``python -m metrics fd``): the protocol's own, or, for a kind it does not
        list, one built on its default model with the kind's default settings (key = kind)."""
        out: list[MetricSpec] = []
        for kind in kinds:
            if kind not in METRIC_KINDS:
                raise ValueError(f"unknown metric {kind!r}; choose from {list(METRIC_KINDS)}")
            own = [m for m in self.metrics if m.kind == kind]
            if not own:
                generic = generic_metric(kind, self.default_model)
                own = [dataclasses.replace(generic, embedder=self.embedder_of(generic.model, generic.embedder))]
            out += own
        return tuple(out)

    def embedder_of(self, model: str | None, fallback: Options = ()) -> Options:
        """The embedder options this protocol runs ``model`` with (so an added metric shares its cache)."""
        return next((m.embedder for m in self.metrics if m.model == model), fallback)

    def with_model(self, model: str) -> Protocol:
        """The protocol with every embedding distance on ``model`` (``--model``). Its embedder options are those
        the protocol already runs ``model`` with, else the model's reference defaults; the change is listed as a
        deviation, and such a metric is no longer set beside published numbers."""
        if model not in EMBEDDING_MODELS:
            raise ValueError(f"--model must be one of {list(EMBEDDING_MODELS)}, got {model!r}")
        embedder = self.embedder_of(model, EMBEDDING_DEFAULTS[model])
        metrics = tuple(
            dataclasses.replace(m, model=model, embedder=embedder, label=f"{m.kind}_{model}", comparable=False,
                                distance=tuple((k, v) for k, v in m.distance if k not in ("output", "pool")),
                                reference=_KIND_REFERENCE[m.kind],
                                deviations=(f"embedding chosen by hand: {model} instead of the protocol's "
                                            f"{m.model}",))
            if m.kind in EMBEDDING_KINDS and m.model != model else m
            for m in self.metrics)
        return dataclasses.replace(self, metrics=metrics, default_model=model, model_override=model)

    def with_embedder_options(self, model: str, **values: Any) -> Protocol:
        """Set embedder options of every metric on ``model`` at once (e.g. OpenL3 ``content_type="env"`` for
        AudioCaps), so metrics that share an embedder keep sharing its cache."""
        metrics = tuple(dataclasses.replace(m, embedder=options(**{**m.embedder_options(), **values}))
                        if m.model == model else m for m in self.metrics)
        return dataclasses.replace(self, metrics=metrics)

    def settings(self) -> dict[str, Any]:
        """The protocol and every setting of every metric, JSON-able (goes into the results file)."""
        return {"name": self.name, "title": self.title, "source": self.source, "default_model": self.default_model,
                "model_override": self.model_override, "published": self.published,
                "published_keys": dict(self.published_keys), "notes": list(self.notes),
                "metrics": {m.key: m.settings() for m in self.metrics}}


def generic_metric(kind: str, model: str | None) -> MetricSpec:
    """A metric outside any protocol's list, on ``model`` with the kind's default settings."""
    if kind == "timing":
        return MetricSpec("timing", "timing", None, "timing MAE (s)")
    if kind in EMBEDDING_KINDS:
        if model not in EMBEDDING_MODELS:
            raise ValueError(f"{kind} needs an embedding model from {list(EMBEDDING_MODELS)}, got {model!r}")
        return MetricSpec(kind, kind, model, f"{kind}_{model}", embedder=EMBEDDING_DEFAULTS[model],
                          reference=_KIND_REFERENCE[kind])
    if kind == "pam":
        return _PAM
    if kind == "clap":
        return _MSCLAP_SCORE if model == "msclap" else _LAION_SCORE
    raise ValueError(f"{kind} is defined by a protocol's classifier settings; use a --protocol that lists it")


_KIND_REFERENCE = {
    "fd": "mseitzer/pytorch-fid frechet distance over pooled frames",
    "kad": "kadtk 1.1.0 calc_kernel_audio_distance",
    "fad-inf": "fadtk 1.1.0 FrechetAudioDistance.score_inf",
    "fd-per-song": "fadtk 1.1.0 FrechetAudioDistance.score_individual",
    "mad": "mad-metric 0.0.6 compute_mad (-log MAUVE, mauve-text 0.4.0)",
}

# --- the presets --------------------------------------------------------------------------------------------------

_SAM = "Stability-AI/stable-audio-metrics fd55536"
_AUDIOCRAFT = "facebookresearch/audiocraft (MusicGen solver, config/solver/musicgen/default.yaml)"
_AUDIOLDM_EVAL = "haoheliu/audioldm_eval main (0.0.3), EvaluationHelper(16000, backbone='cnn14')"
_AUDIOLDM_EVAL_PASST = "haoheliu/audioldm_eval branch passt_replace_panns"
_FADTK = "microsoft/fadtk 1.1.0"
_KADTK = "YoonjinXD/kadtk 1.1.0"

_VGGISH_FAD = options(config="frechet-audio-distance")  # torchvggish's own input steps (resampy, no padding)
_TORCHVGGISH = ("VGGish is the torchvggish port of the TensorFlow checkpoint; FAD numbers in the literature differ "
                "between the two implementations (gudgud96/frechet-audio-distance#3)")

_PAM_REF = "soham97/PAM ead6e7f (PAM/PAM.py, dataset.py)"
_MSCLAP = "microsoft/CLAP msclap 1.3.4 (CLAPWrapper)"
_MSCLAP_2023 = options(version="2023", chunks="pam")
_PAM = MetricSpec(
    "pam", "pam", "msclap", "PAM", higher_is_better=True, embedder=_MSCLAP_2023,
    reference=f"{_PAM_REF}: MS-CLAP 2023, 44.1 kHz, 7 s clips (short audio tiled, the tail clip overlapping the one "
              "before), softmax(logit_scale * cos) between the two prompts, mean over clips then files")
_MSCLAP_SCORE = MetricSpec(
    "clap", "clap", "msclap", "CLAP_score (MS-CLAP 2023)", higher_is_better=True, embedder=_MSCLAP_2023,
    reference=f"{_MSCLAP} get_audio_embeddings / get_text_embeddings, cosine per item (TTA-Bench-tools "
              "cal_clap/4_cal_all_clap_score.py)",
    deviations=("audio longer than 7 s: mean cosine over PAM's 7 s clips (shared with PAM: one forward per file); "
                "msclap embeds one unseeded random 7 s crop (embedder option chunks='random-crop' does that, "
                "seeded)",))
_LAION_SCORE = MetricSpec(
    "clap", "clap", "clap", "CLAP_score", higher_is_better=True, embedder=options(checkpoint="630k-audioset-fusion"),
    reference="Stability-AI/stable-audio-metrics src/clap_score.py")

STABLE_AUDIO = Protocol(
    name="stable-audio",
    title="Stable Audio (stable-audio-metrics): FD_openl3, KL_passt, CLAP score, timing",
    source=f"{_SAM}; Evans et al. 2024 (arXiv 2402.04825), Stable Audio Open (arXiv 2407.14358)",
    metrics=(
        MetricSpec("fd", "fd", "openl3", "FD_openl3", embedder=options(content_type="music"),
                   reference=f"{_SAM} src/openl3_fd.py (channels 2, 44.1 kHz, mel256/512, hop 0.5 s)",
                   deviations=("OpenL3 runs as a PyTorch port of the Keras weights (agreement: "
                               "tests/metrics/test_openl3.py)",)),
        MetricSpec("kl", "kl", "passt", "KL_passt",
                   reference=f"{_SAM} src/passt_kld.py (10 s windows, 5 s hop, mean logits, KL(gen||ref))"),
        MetricSpec("clap", "clap", "clap", "CLAP_score", higher_is_better=True,
                   embedder=options(checkpoint="630k-audioset-fusion"),
                   reference=f"{_SAM} src/clap_score.py (630k-audioset-fusion-best.pt, 48 kHz, int16)",
                   deviations=("fusion crops are seeded per file (the reference leaves NumPy's RNG unseeded)",)),
        MetricSpec("timing", "timing", None, "timing MAE (s)",
                   reference="sa-bench metrics/scores/timing.py (the paper's silence detector is not published)"),
    ),
    default_model="openl3",
    published="stable-audio",
    notes=("OpenL3 content type: music for MusicCaps / Song Describer, env for AudioCaps (--openl3-content).",),
)

_KLD = "facebookresearch/audiocraft audiocraft/metrics/kld.py PasstKLDivergenceMetric"
_KLD_PASST = options(pretrained_length=20, segments="audiocraft")  # config/solver/musicgen/default.yaml kld.passt
_KLD_REFERENCE = (f"{_KLD} (pretrained_length 20: hear21passt base20sec; julius resampling to 32 kHz, then mono; "
                  "back-to-back 20 s segments, unpadded, those of <= 0.15 s dropped; softmax per segment; segment k of "
                  "the generated file against segment k of the reference, each pair one sample; mean over all pairs)")
_KLD_DEVIATIONS = ("audiocraft cuts the generated audio to the reference's length before segmenting (its solver "
                   "generates that length); here each file is segmented as it is and segments are paired up to the "
                   "shorter count (the same pairs when the lengths are equal)",)


def _audiocraft_kl(key: str, direction: str, label: str) -> MetricSpec:
    return MetricSpec(key, "kl-segments", "passt", label, embedder=_KLD_PASST, distance=options(direction=direction),
                      reference=_KLD_REFERENCE, deviations=_KLD_DEVIATIONS)


_MUSICGEN_FAD = MetricSpec(
    "fad", "fd", "vggish", "FAD_vggish", embedder=_VGGISH_FAD,
    reference="google-research frechet_audio_distance via audiocraft/metrics/fad.py (TF VGGish, "
              "16 kHz mono, embedding without PCA and without final activation)",
    deviations=(_TORCHVGGISH,
                "google-research FAD reads int16, divides each file by max(0.1, max sample) and "
                "embeds 1 s windows every 0.5 s; here torchvggish's steps: 0.96 s examples back to "
                "back, unscaled (metrics/embedding/embedders/vggish.py docstring)"))
_MUSICGEN_CLAP = MetricSpec(
    "clap", "clap", "clap", "CLAP_score", higher_is_better=True, embedder=options(checkpoint="music-audioset"),
    reference="audiocraft/metrics/clap_consistency.py (music_audioset_epoch_15_esc_90.14.pt, "
              "HTSAT-base, no fusion, 48 kHz mono, random 10 s crop of longer audio)",
    deviations=("peak -1 dBFS and int16 round trip before CLAP (audiocraft does neither)",))

AUDIOCRAFT = Protocol(
    name="audiocraft",
    title="audiocraft metrics: FAD_vggish, KL_passt both directions (kld.py), CLAP (music_audioset)",
    source=f"{_AUDIOCRAFT}; audiocraft/metrics/kld.py (kld_pq, kld_qp); Copet et al. 2023 (arXiv 2306.05284) §4",
    metrics=(_MUSICGEN_FAD,
             # kld.py: kld_pq = kl_div((preds + eps).log(), targets) = KL(ref || gen + eps), reported as 'kld'
             _audiocraft_kl("kld_pq", "ref||gen", "KL_passt (kld_pq)"),
             _audiocraft_kl("kld_qp", "gen||ref", "KL_passt (kld_qp)"),
             _MUSICGEN_CLAP),
    default_model="vggish",
    published="musicgen",  # the MusicGen / MAGNeT / JASCO rows: audiocraft's solver computed them
    published_keys=options(kl="kld_pq"),  # no published kld_qp was found (audiocraft model cards report 'kld')
    notes=("Reference folder holds one file per generated file, same names (KL pairs ids, then segments).",
           "kld_pq is audiocraft's 'kld' (the KL of the MusicGen paper); kld_both = kld_pq + kld_qp."),
)

MUSICGEN = Protocol(  # the MusicGen paper's three numbers, each computed as audiocraft computes it
    name="musicgen",
    title="MusicGen (audiocraft): FAD_vggish, KL_passt (audiocraft kld.py), CLAP (music_audioset)",
    source=f"{_AUDIOCRAFT}; Copet et al. 2023 (arXiv 2306.05284) §4",
    metrics=(_MUSICGEN_FAD, _audiocraft_kl("kl", "ref||gen", "KL_passt"), _MUSICGEN_CLAP),
    default_model="vggish",
    published="musicgen",
    notes=("MusicCaps reference: 10 s clips; MusicGen generates the same length as the reference.",
           "KL is audiocraft's kld_pq ('kld'); --protocol audiocraft adds kld_qp."),
)

_PANNS = options(sample_rate=16000)
_AUDIOLDM_EVAL_FAD = MetricSpec(  # audioldm_eval's FAD, in both AudioLDM protocols
    "fad", "fd", "vggish", "FAD_vggish", embedder=_VGGISH_FAD,
    reference="audioldm_eval metrics/fad.py (torchvggish, no PCA, last ReLU dropped, int16 read, resampy to 16 kHz)",
    deviations=("audio read as float32, not int16 / 32768 in float64 (a difference below one LSB)",))
AUDIOLDM = Protocol(
    name="audioldm",
    title="AudioLDM / Tango (audioldm_eval, PANNs): FD_panns, KL softmax/sigmoid, IS, FAD_vggish",
    source=f"{_AUDIOLDM_EVAL}; Liu et al. 2023 (AudioLDM, arXiv 2301.12503); Ghosal et al. 2023 (Tango, "
           "arXiv 2304.13731)",
    metrics=(
        MetricSpec("fd", "fd", "panns", "FD_panns", embedder=_PANNS, distance=options(output="embedding", pool="files"),
                   reference="audioldm_eval calculate_fid on Cnn14's '2048' embedding (one per file)"),
        MetricSpec("kl", "kl", "panns", "KL_softmax", embedder=_PANNS,
                   distance=options(output="logits", activation="softmax", direction="ref||gen", pairing="id"),
                   reference="audioldm_eval calculate_kl: kl_div(log(softmax(gen)+1e-6), softmax(ref), sum)/N, "
                             "paired by file name"),
        MetricSpec("kl_sigmoid", "kl", "panns", "KL_sigmoid", embedder=_PANNS,
                   distance=options(output="logits", activation="sigmoid", direction="ref||gen", pairing="id"),
                   reference="audioldm_eval calculate_kl, sigmoid variant"),
        MetricSpec("is", "is", "panns", "IS_panns", higher_is_better=True, embedder=_PANNS,
                   reference="audioldm_eval calculate_isc(splits=10, samples_shuffle=True, rng_seed=2020)"),
        _AUDIOLDM_EVAL_FAD,
    ),
    default_model="panns",
    published="audioldm",
    notes=("Reference folder holds one file per generated file, same names (KL is paired by name).",
           "audioldm_eval reads the first channel only and removes DC before PANNs."),
)

AUDIOLDM2 = Protocol(
    name="audioldm2",
    title="AudioLDM 2 (audioldm_eval passt_replace_panns): FAD_vggish, KL_passt (first 10 s), CLAP",
    source=f"{_AUDIOLDM_EVAL_PASST}; Liu et al. 2024 (AudioLDM 2, arXiv 2308.05734); haoheliu/AudioLDM2#76",
    metrics=(
        _AUDIOLDM_EVAL_FAD,
        MetricSpec("kl", "kl", "passt", "KL_passt", distance=options(direction="ref||gen"),
                   reference="passt_replace_panns eval.py: PaSST get_basic_model(mode='logits') on the first 10 s "
                             "(cropped or zero-padded to 320000 samples at 32 kHz), KL(ref||gen) paired by name",
                   deviations=("PaSST in 10 s windows every 5 s with mean logits over the whole file, not the "
                               "first 10 s only",)),
        MetricSpec("clap", "clap", "clap", "CLAP_score", higher_is_better=True,
                   embedder=options(checkpoint="music-speech-audioset"),
                   reference="passt_replace_panns metrics/clap_score.py (music_speech_audioset_epoch_15_esc_89.98.pt,"
                             " HTSAT-base, audio loaded at 32 kHz)",
                   deviations=("audio loaded at 48 kHz with peak -1 dBFS and int16 round trip",)),
    ),
    default_model="vggish",
    published="audioldm2",
)

FADTK = Protocol(
    name="fadtk",
    title="fadtk / kadtk: FAD, FAD-inf and per-song FAD on a chosen model, KAD",
    source=f"{_FADTK} (Gui et al., ICASSP 2024); {_KADTK} (Chung et al. 2025, arXiv 2502.15602)",
    metrics=(
        MetricSpec("fad", "fd", "vggish", "FAD", embedder=EMBEDDING_DEFAULTS["vggish"],
                   reference=f"{_FADTK} FrechetAudioDistance.score",
                   deviations=("FD through scipy sqrtm (fadtk takes the eigenvalue route; equal up to rounding on "
                               "well-conditioned covariances)",)),
        MetricSpec("fad-inf", "fad-inf", "vggish", "FAD-inf", embedder=EMBEDDING_DEFAULTS["vggish"],
                   reference=f"{_FADTK} FrechetAudioDistance.score_inf",
                   deviations=("frames are drawn from RandomState(seed) (fadtk: NumPy's global RNG, unseeded; seed s "
                               "reproduces fadtk after np.random.seed(s))",)),
        MetricSpec("fad-indiv", "fd-per-song", "vggish", "per-song FAD", embedder=EMBEDDING_DEFAULTS["vggish"],
                   reference=f"{_FADTK} FrechetAudioDistance.score_individual"),
        MetricSpec("kad", "kad", "vggish", "KAD", embedder=EMBEDDING_DEFAULTS["vggish"],
                   reference=f"{_KADTK} calc_kernel_audio_distance"),
    ),
    default_model="vggish",
    published=None,
    notes=("Pick the embedding with --model (fadtk's default choice here: vggish); kadtk's PaSST and PANNs "
           f"embeddings of the KAD paper under kadtk's names: {', '.join(KADTK_MODELS)}.",
           "Reference statistics may come as fadtk .npz files with '<model>.mu' / '<model>.cov'."),
)

PAM = Protocol(
    name="pam",
    title="PAM (no-reference quality on MS-CLAP 2023), its repro mode, and the MS-CLAP 2023 CLAP score",
    source=f"{_PAM_REF}; Deshmukh et al., Interspeech 2024 (arXiv 2402.00282); {_MSCLAP}",
    metrics=(_PAM,
             dataclasses.replace(_PAM, key="pam_repro", label="PAM (repro: first 7 s)",
                                 distance=options(repro=True),
                                 reference=f"{_PAM_REF} dataset.py repro=True: the first 7 s of each file only"),
             _MSCLAP_SCORE),
    default_model="msclap",
    published=None,
    notes=("PAM needs no reference audio; the CLAP score needs --captions.",
           "Both read one MS-CLAP 2023 forward per 7 s clip of each file."),
)

_AES = "facebookresearch/audiobox-aesthetics 0.0.4 infer.py AesPredictor"
_AES_AXES = (("pq", "PQ", "production quality"), ("pc", "PC", "production complexity"),
             ("ce", "CE", "content enjoyment"), ("cu", "CU", "content usefulness"))
AESTHETICS_METRICS = tuple(
    MetricSpec(f"aes_{key}", "aesthetics", "aesthetics", f"AES {axis} ({words})", higher_is_better=True,
               distance=options(output=axis),
               reference=f"{_AES} (16 kHz mono, 10 s windows every 10 s, last zero-padded and weighted by its length,"
                         " checkpoint.pt target mean/std)",
               deviations=("float32 forward pass; the reference autocasts to the checkpoint's model_cfg precision "
                           "(--precision bf16 for its bf16)",))
    for key, axis, words in _AES_AXES)

TTA_BENCH = Protocol(
    name="tta-bench",
    title="TTA-Bench (TTA-Bench-tools): Audiobox Aesthetics PQ/PC/CE/CU and the MS-CLAP 2023 CLAP score",
    source=f"NKU-HLT/TTA-Bench-tools (cal_aes/2_cal_all_aes_score.py, 3_cal_mean_aes_score.py); {_AES}; "
           "Wang et al. 2025 (TTA-Bench, arXiv 2509.02398)",
    metrics=(*AESTHETICS_METRICS, MetricSpec(
        "clap", "clap", "msclap", "CLAP_score (MS-CLAP 2023)", higher_is_better=True,
        embedder=options(version="2023", chunks="random-crop"),
        reference="NKU-HLT/TTA-Bench-tools cal_clap/4_cal_all_clap_score.py: msclap 1.3.4 CLAP(version='2023') "
                  "get_audio_embeddings([path]) (7 s at 44.1 kHz, a random 7 s crop of longer audio), "
                  "get_text_embeddings([prompt]), torch cosine_similarity per item",
        deviations=("the 7 s crop of longer audio is seeded per file (msclap draws it from Python's unseeded "
                    "global random)",))),
    default_model="vggish",  # TTA-Bench computes no embedding distance: one asked for by hand runs on VGGish
    published="tta-bench",
    notes=("No reference audio: Audiobox Aesthetics scores each generated file on its own; the CLAP score needs "
           "--captions.",
           "TTA-Bench-tools runs `audio-aes` without --ckpt, which loads the same model from the hub's "
           "model.safetensors; here the released checkpoint.pt (--aesthetics-weights)."),
)

_MAD = "i-need-sleep/mad (mad-metric 0.0.6)"
MAD = Protocol(
    name="mad",
    title="MAD: MAUVE Audio Divergence on MERT-v1-330M (layer 24, max-pooled over time)",
    source=f"{_MAD} compute_mad.py, embedding_models.py; mauve-text 0.4.0 compute_mauve",
    metrics=(
        MetricSpec("mad", "mad", "MERT-v1-330M", "MAD", embedder=EMBEDDING_DEFAULTS["MERT-v1-330M"],
                   reference=f"{_MAD} compute_mad: librosa.load(sr=24000), Wav2Vec2FeatureExtractor, MERT-v1-330M "
                             "hidden_states[24].max over time, -log mauve.compute_mauve(p=eval, q=ref)",
                   deviations=("each file is embedded alone (mad-metric pads batches of 3 files in directory order, "
                               "so a shorter file's max-pool also sees frames computed over its zero padding; equal "
                               "for sets of equal-length files, measured in tests/metrics/test_mad.py)",)),
    ),
    default_model="MERT-v1-330M",
    published=None,
    notes=("MAD needs --ref audio (the reference set); lower is better, 0 for indistinguishable sets.",
           "python -m metrics fd --protocol mad reuses the MERT-v1-330M embeddings of the same files."),
)

PROTOCOLS: dict[str, Protocol] = {p.name: p for p in (STABLE_AUDIO, MUSICGEN, AUDIOCRAFT, AUDIOLDM, AUDIOLDM2,
                                                      FADTK, TTA_BENCH, PAM, MAD)}
DEFAULT_PROTOCOL = "stable-audio"


def get(name: str) -> Protocol:
    """The preset called ``name``; ValueError listing the choices otherwise."""
    try:
        return PROTOCOLS[name]
    except KeyError:
        raise ValueError(f"unknown protocol {name!r}; choose from {list(PROTOCOLS)}") from None


def shared_embedders(protocol: Protocol) -> Mapping[str, Options]:
    """model -> embedder options for the protocol; raises if two metrics on one model disagree (they would then
    need two forward passes per file)."""
    seen: dict[str, Options] = {}
    for m in protocol.metrics:
        if m.model is None:
            continue
        if m.model in seen and seen[m.model] != m.embedder:
            raise ValueError(f"protocol {protocol.name}: metrics on {m.model} use different embedder options "
                             f"({dict(seen[m.model])} vs {dict(m.embedder)})")
        seen[m.model] = m.embedder
    return seen
