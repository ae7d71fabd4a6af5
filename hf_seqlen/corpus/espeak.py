"""Speak text with espeak-ng from pip alone: the library and voice data of `espeakng-loader`.

libespeak-ng is driven through ctypes as the `espeak-ng` executable drives it (synchronous output,
voice by name or else by language, then rate and pitch). The library keeps state between
utterances (its pitch flutter, for one), so the same text gives different samples on a second
call in one process. The executable starts a fresh process per call; so does this: every
utterance is synthesised in a forked child, which makes each one independent of what was
spoken before it, and the child fixes the seed that espeak-ng would draw from the clock, which
makes the whole corpus reproducible. Needs a POSIX system (Linux, macOS).
"""

from __future__ import annotations

import ctypes
import os
from functools import cache

import numpy as np

from ..option_parsing import UsageError

SYNCHRONOUS_OUTPUT = 1  # ENOUTPUT_MODE_SYNCHRONOUS
PARAMETER_RATE, PARAMETER_PITCH = 1, 3  # espeak_PARAMETER
POSITION_CHARACTER = 1
RANDOM_SEED = 1
# espeakCHARS_AUTO | espeakPHONEMES | espeakENDPAUSE: the executable's defaults
SYNTH_FLAGS = 0x0000 | 0x0100 | 0x1000

_SYNTH_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


class _VoiceSelector(ctypes.Structure):  # espeak_VOICE
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("languages", ctypes.c_char_p),
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    ]


@cache
def _library() -> tuple[ctypes.CDLL, bytes]:
    """The shared library (loaded, never initialised here) and its data folder."""
    if not hasattr(os, "fork"):
        raise UsageError("making a demo corpus needs os.fork, which this system lacks; run it on Linux or macOS")
    try:
        import espeakng_loader
    except ImportError:
        raise UsageError(
            "making a demo corpus needs espeak-ng from the espeakng-loader package: pip install espeakng-loader"
        ) from None
    return ctypes.CDLL(espeakng_loader.get_library_path()), espeakng_loader.get_data_path().encode()


def version() -> str:
    library, _ = _library()
    library.espeak_Info.restype = ctypes.c_char_p
    return library.espeak_Info(None).decode()


def synthesise(voice: str, speed: int, pitch: int, text: str) -> tuple[np.ndarray, int]:
    """`espeak-ng -v voice -s speed -p pitch text` as int16 samples and their sample rate."""
    library, data_path = _library()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child speaks once and exits without running the parent's cleanup
        os.close(read_end)
        status = 1
        try:
            samples, rate = _speak_once(library, data_path, voice, speed, pitch, text)
            with os.fdopen(write_end, "wb") as pipe:
                pipe.write(np.int32(rate).tobytes() + samples.tobytes())
            status = 0
        except BaseException as error:
            os.write(2, f"espeak-ng child: {error}\n".encode())
        finally:
            os._exit(status)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        message = pipe.read()
    _, status = os.waitpid(pid, 0)
    if status != 0 or len(message) < 4:
        raise RuntimeError(f"espeak-ng failed to speak {text!r} with voice {voice!r}")
    return np.frombuffer(message[4:], np.int16), int(np.frombuffer(message[:4], np.int32)[0])


def _speak_once(library, data_path, voice, speed, pitch, text):
    library.espeak_ng_InitializePath(data_path)
    if library.espeak_ng_Initialize(None) != 0 or library.espeak_ng_InitializeOutput(SYNCHRONOUS_OUTPUT, 0, None) != 0:
        raise RuntimeError("espeak-ng did not initialise")
    # Initialising seeds the noise of breathy voices (f2, f3, f5) from the clock; fix it, and libc's
    # rand() too, which the child would otherwise inherit in whatever state the parent left it.
    library.espeak_ng_SetRandSeed(ctypes.c_long(RANDOM_SEED))
    ctypes.CDLL(None).srand(RANDOM_SEED)
    chunks = []

    def collect(samples, count, _events):
        if samples and count > 0:
            chunks.append(np.ctypeslib.as_array(samples, (count,)).copy())
        return 0

    callback = _SYNTH_CALLBACK(collect)
    library.espeak_SetSynthCallback(callback)
    if library.espeak_SetVoiceByName(voice.encode()) != 0:
        selector = _VoiceSelector(languages=voice.encode())  # "en-gb+f2" names a language and a variant
        if library.espeak_SetVoiceByProperties(ctypes.byref(selector)) != 0:
            raise RuntimeError(f"espeak-ng has no voice {voice!r}")
    library.espeak_SetParameter(PARAMETER_RATE, speed, 0)
    library.espeak_SetParameter(PARAMETER_PITCH, pitch, 0)
    encoded = text.encode()
    if library.espeak_Synth(encoded, len(encoded) + 1, 0, POSITION_CHARACTER, 0, SYNTH_FLAGS, None, None) != 0:
        raise RuntimeError(f"espeak-ng could not speak {text!r}")
    library.espeak_Synchronize()
    return np.concatenate(chunks), library.espeak_ng_GetSampleRate()
