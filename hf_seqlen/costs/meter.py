"""What a run cost, measured while it runs: costs.json, and the table the log and the model card show.

A `CostMeter` belongs to one process. `totals()` combines every process (sums, maxima, or the
value all share) and `state_dict()` / `load_state_dict()` carry the counts across a resume, so a
resumed run keeps adding to its wall-clock, device-hours, audio, FLOPs and energy.

    meter = CostMeter(accelerator).start()        # or: with CostMeter(accelerator) as meter:
    meter.add_batch(batch); meter.add_step()
    with meter.counting_flops(step, batch["audio_seconds"]): forward and backward
    costs = meter.finish()                        # the costs.json dict
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import platform
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import codecarbon
import psutil
import torch
from codecarbon import OfflineEmissionsTracker
from codecarbon.input import DataSource
from codecarbon.output_methods.base_output import BaseOutput
from codecarbon.output_methods.emissions_data import EmissionsData

from .flops import flop_counter

SCHEMA_VERSION = 2
DEFAULT_COUNTRY_ISO_CODE = "USA"
GIB = 2**30
# Figures are kept to the precision the log, costs.json and the model card all show.
SIGNIFICANT_DIGITS = 6


def _counter(over: str, zero: int | float = 0.0, unmeasured: bool = False):
    """A counter: how it combines over processes ('sum', 'max', or 'same': every process holds the
    run's value), its zero (which also gives its type), and whether it starts as not measured (None)."""
    return field(default=None if unmeasured else zero, metadata={"over_processes": over, "zero": zero})


@dataclass
class CostCounters:
    """Everything the meter accumulates; None where nothing was measured."""

    wall_clock_seconds: float = _counter("same")
    device_seconds: float = _counter("same")
    optimizer_steps: int = _counter("same", 0)
    flops_counted_steps: int = _counter("same", 0)
    audio_seconds: float = _counter("sum")
    samples: int = _counter("sum", 0)
    encoder_frames: int = _counter("sum", 0)
    flops_counted: int = _counter("sum", 0)
    flops_counted_audio_seconds: float = _counter("sum")
    energy_kwh: float | None = _counter("sum")
    emissions_kg: float | None = _counter("sum")
    longest_input_seconds: float = _counter("max")
    peak_accelerator_memory_bytes: int | None = _counter("max", 0, unmeasured=True)
    peak_host_memory_bytes: int | None = _counter("max", 0, unmeasured=True)


def _plus(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a + b


def _max(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else max(a, b)


def round_figure(value: float) -> float:
    return float(f"{value:.{SIGNIFICANT_DIGITS}g}")


def format_figure(value) -> str:
    """The one way a cost figure is shown (log table and model card), so both show what costs.json holds."""
    if value is None:
        return "not measured"
    if isinstance(value, float):
        return f"{value:.{SIGNIFICANT_DIGITS}g}"
    return str(value)


COUNTRY_ISO_CODE_HELP = (
    "3-letter ISO code of the country whose grid powers the run: sets the carbon intensity "
    "of the CO2 estimate (codecarbon, offline)."
)


def country_problem(code: str) -> str | None:
    """Why codecarbon cannot use this country code (it would silently fall back to a world average)."""
    known = DataSource().get_global_energy_mix_data()
    if code in known:
        return None
    return (
        f"--country_iso_code {code!r} is not a country codecarbon knows. Use a 3-letter ISO 3166 code "
        f"such as USA, FRA, DEU, GBR or CAN ({len(known)} are known)."
    )


def peak_host_memory_bytes() -> int | None:
    """Peak resident memory of this process: getrusage on POSIX (KiB on Linux, bytes on macOS), psutil on Windows."""
    try:
        import resource
    except ImportError:
        return getattr(psutil.Process().memory_info(), "peak_wset", None)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if platform.system() == "Darwin" else peak * 1024


def peak_accelerator_memory_bytes(device: torch.device) -> int | None:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device)
    return None  # CPU runs have no accelerator memory; other backends have no peak counter here


def kernel_cpu_model() -> str | None:
    """The CPU's brand string as Linux reports it in /proc/cpuinfo; None elsewhere (or on CPUs it does not name)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return None


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return kernel_cpu_model() or platform.processor() or platform.machine() or "unknown"


def name_the_cpu_for_codecarbon() -> None:
    """codecarbon names the CPU through py-cpuinfo, which probes it in a fresh Python process: about a second of
    CPU, which every run waited for before its first update. The kernel reads the same brand string from the
    CPU, so where it is in /proc/cpuinfo codecarbon's lookup is answered with it once (codecarbon keeps its first
    answer). A codecarbon that does not cache the lookup probes as before."""
    from codecarbon.core import util

    detect = getattr(util, "detect_cpu_model", None)
    model = kernel_cpu_model()
    if model is None or not hasattr(detect, "cache_info") or detect.cache_info().currsize:
        return
    import cpuinfo  # only where codecarbon's cached lookup goes through it

    probe = cpuinfo.get_cpu_info
    cpuinfo.get_cpu_info = lambda: {"brand_raw": model}
    try:
        detect()
    finally:
        cpuinfo.get_cpu_info = probe


class _LatestEmissions(BaseOutput):
    """Keeps what codecarbon reports on flush and stop, in memory only."""

    latest: EmissionsData | None = None

    def out(self, total: EmissionsData, delta: EmissionsData) -> None:
        self.latest = total


class EnergyTracker:
    """codecarbon's offline tracker, quiet and writing no files. A failure is recorded here, never raised."""

    def __init__(self, country_iso_code: str, tracking_mode: str, gpu_ids: list[int] | None) -> None:
        self.error: str | None = None
        self.stopped = False
        self.reports = _LatestEmissions()
        logging.getLogger("codecarbon").setLevel(logging.ERROR)
        try:
            name_the_cpu_for_codecarbon()
            self.tracker = OfflineEmissionsTracker(
                country_iso_code=country_iso_code,
                tracking_mode=tracking_mode,
                gpu_ids=gpu_ids,
                output_methods=[],
                output_handlers=[self.reports],
                log_level="error",
                allow_multiple_runs=True,
            )
            self.tracker.start()
        except Exception as error:  # codecarbon probes the hardware; no failure of it may stop training
            self.error = f"codecarbon could not start: {type(error).__name__}: {error}"
            self.tracker = None

    def kwh_and_kg(self) -> tuple[float | None, float | None]:
        """Energy and emissions so far (codecarbon swallows its own errors and reports nothing)."""
        if self.tracker is not None and not self.stopped and self.tracker.flush() is None:
            self.error = "codecarbon returned no measurement (its log says why)"
        data = self.reports.latest
        if self.error or data is None:
            return None, None
        return data.energy_consumed, data.emissions

    def stop(self) -> None:
        if self.tracker is not None and not self.stopped:
            self.stopped = True
            if self.tracker.stop() is None:
                self.error = "codecarbon returned no measurement when stopped (its log says why)"

    def details(self) -> dict:
        data = self.reports.latest
        return {
            "source": f"codecarbon {codecarbon.__version__} OfflineEmissionsTracker",
            "cpu_model": data.cpu_model if data else None,
            "gpu_model": (data.gpu_model or None) if data else None,
            "country_name": data.country_name if data else None,
            "error": self.error,
        }


class CostMeter:
    """Per-process meter: counts what was fed, times the run, counts FLOPs on a few updates, tracks energy.

    `accelerator` may be None for a single process. FLOPs are counted with FlopCounterMode on the
    first `flops_counted_steps` updates of a session and every `flops_count_interval`-th after that,
    and extrapolated per audio second to all updates.
    """

    def __init__(
        self,
        accelerator=None,
        country_iso_code: str = DEFAULT_COUNTRY_ISO_CODE,
        energy_tracking_mode: str = "machine",
        flops_counted_steps: int = 3,
        flops_count_interval: int = 1000,
        track_energy: bool = True,
    ) -> None:
        self.accelerator = accelerator
        self.device = accelerator.device if accelerator else torch.device("cpu")
        self.num_processes = accelerator.num_processes if accelerator else 1
        self.country_iso_code = country_iso_code
        self.energy_tracking_mode = energy_tracking_mode
        self.flops_first, self.flops_interval = flops_counted_steps, flops_count_interval
        self.track_energy = track_energy
        self.counters = CostCounters()
        self.started: float | None = None
        self.energy: EnergyTracker | None = None
        self._session_first_step: int | None = None
        self._counted_this_step = False

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> CostMeter:
        self.started = time.perf_counter()
        if self.track_energy and self._tracks_energy_here():
            per_process_gpu = self.device.type == "cuda" and self.energy_tracking_mode == "process"
            gpu_ids = [self.device.index or 0] if per_process_gpu else None
            self.energy = EnergyTracker(self.country_iso_code, self.energy_tracking_mode, gpu_ids)
        return self

    def finish(self) -> dict:
        """Stop energy tracking and return the costs.json dict (every process must call it)."""
        if self.energy is not None:
            self.energy.stop()
        return self.report()

    def __enter__(self) -> CostMeter:
        return self.start()

    def __exit__(self, *exc) -> None:
        if self.energy is not None:
            self.energy.stop()

    def _tracks_energy_here(self) -> bool:
        """In machine mode one tracker per machine measures it all; in process mode each process measures itself."""
        if self.energy_tracking_mode == "process" or self.accelerator is None:
            return True
        return self.accelerator.is_local_main_process

    # -- feeding ---------------------------------------------------------------------------------
    def add_batch(self, batch: dict) -> None:
        c = self.counters
        c.audio_seconds += batch["audio_seconds"]
        c.samples += batch["num_samples"]
        c.encoder_frames += batch["frames"]
        c.longest_input_seconds = max(c.longest_input_seconds, batch["longest_seconds"])

    def add_step(self) -> None:
        self.counters.optimizer_steps += 1
        if self._counted_this_step:
            self.counters.flops_counted_steps += 1
            self._counted_this_step = False

    @contextlib.contextmanager
    def counting_flops(self, step: int, audio_seconds: float):
        """Wrap a forward and backward pass; FLOPs are counted only on the sampled updates."""
        if self._session_first_step is None:
            self._session_first_step = step
        sampled = step - self._session_first_step < self.flops_first or step % self.flops_interval == 0
        if not sampled:
            yield
            return
        with flop_counter() as counter:
            yield
        self.counters.flops_counted += counter.get_total_flops()
        self.counters.flops_counted_audio_seconds += audio_seconds
        self._counted_this_step = True

    # -- reading ---------------------------------------------------------------------------------
    def wall_clock_seconds(self) -> float:
        """This run's wall-clock so far, resumed sessions included (local, no communication)."""
        return self.counters.wall_clock_seconds + time.perf_counter() - self.started

    def _live(self) -> CostCounters:
        """This process's counters with the running session's time, memory peaks and energy added."""
        c = CostCounters(**asdict(self.counters))
        elapsed = time.perf_counter() - self.started
        c.wall_clock_seconds += elapsed
        c.device_seconds += elapsed * self.num_processes
        c.peak_accelerator_memory_bytes = _max(
            c.peak_accelerator_memory_bytes, peak_accelerator_memory_bytes(self.device)
        )
        c.peak_host_memory_bytes = _max(c.peak_host_memory_bytes, peak_host_memory_bytes())
        if self.energy is not None:
            kwh, kg = self.energy.kwh_and_kg()
            c.energy_kwh, c.emissions_kg = _plus(c.energy_kwh, kwh), _plus(c.emissions_kg, kg)
        elif not self.track_energy:
            c.energy_kwh = c.emissions_kg = None
        return c

    def totals(self) -> CostCounters:
        """Every process calls this; each gets the run's totals over all processes."""
        live = self._live()
        names = [f.name for f in fields(CostCounters)]
        row = torch.tensor(
            [math.nan if getattr(live, n) is None else float(getattr(live, n)) for n in names], dtype=torch.float64
        )
        if self.num_processes > 1:
            rows = self.accelerator.gather(row[None].to(self.device)).cpu()
        else:
            rows = row[None]
        combined = {}
        for i, f in enumerate(fields(CostCounters)):
            column, how = rows[:, i], f.metadata["over_processes"]
            if how == "sum":
                value = column.sum().item()  # NaN where a process could not measure: the total is unknown
            elif how == "max":
                value = column.nan_to_num(nan=-math.inf).max().item()
                value = math.nan if value == -math.inf else value
            else:
                value = column[0].item()
            integer = isinstance(f.metadata["zero"], int)
            combined[f.name] = None if math.isnan(value) else round(value) if integer else value
        return CostCounters(**combined)

    def state_dict(self) -> dict:
        return asdict(self.totals())

    def load_state_dict(self, state: dict) -> None:
        """Sums go to the main process only, so the next reduction counts them once."""
        self.counters = CostCounters(**state)
        if self.accelerator is not None and not self.accelerator.is_main_process:
            for f in fields(CostCounters):
                if f.metadata["over_processes"] == "sum":
                    setattr(self.counters, f.name, f.metadata["zero"])

    def report(self) -> dict:
        """The costs.json dict, from the totals over every process (every process must call it)."""
        t = self.totals()
        return cost_report(t, self.device, self.num_processes, self.energy_details())

    def energy_details(self) -> dict:
        details = {"tracking_mode": self.energy_tracking_mode, "country_iso_code": self.country_iso_code}
        if self.energy is not None:
            details.update(self.energy.details())
        elif not self.track_energy:
            details["error"] = "energy tracking was turned off"
        return details


def _gib(value: int | None) -> float | None:
    return None if value is None else round_figure(value / GIB)


def _rounded(value: float | None) -> float | None:
    return None if value is None else round_figure(value)


def cost_report(t: CostCounters, device: torch.device, num_devices: int, energy: dict) -> dict:
    """costs.json: measured figures, and estimates whose names say so."""
    flops_per_audio_second = t.flops_counted / t.flops_counted_audio_seconds if t.flops_counted_audio_seconds else None
    wall = t.wall_clock_seconds
    return {
        "schema_version": SCHEMA_VERSION,
        "wall_clock_seconds": round_figure(wall),
        "device_kind": device.type,
        "device_name": device_name(device),
        "num_devices": num_devices,
        "device_hours": round_figure(t.device_seconds / 3600),
        "peak_accelerator_memory_gib": _gib(t.peak_accelerator_memory_bytes),
        "peak_host_memory_gib": _gib(t.peak_host_memory_bytes),
        "flops_counted_steps": t.flops_counted_steps,
        "flops_counted": t.flops_counted,
        "flops_per_audio_second": _rounded(flops_per_audio_second),
        "flops_total_estimated_from_counted_steps": _rounded(
            flops_per_audio_second * t.audio_seconds if flops_per_audio_second else None
        ),
        "energy_kwh_estimated": _rounded(t.energy_kwh),
        "co2_kg_estimated": _rounded(t.emissions_kg),
        "audio_hours": round_figure(t.audio_seconds / 3600),
        "samples": t.samples,
        "optimizer_steps": t.optimizer_steps,
        "encoder_frames": t.encoder_frames,
        "longest_input_seconds": round_figure(t.longest_input_seconds),
        "audio_seconds_per_second": round_figure(t.audio_seconds / wall) if wall > 0 else None,
        "energy_estimate": energy,
        "notes": {
            "flops": "forward and backward FLOPs of training updates (matrix multiplications and convolutions, "
            "as torch.utils.flop_counter.FlopCounterMode counts them), counted on flops_counted_steps "
            "updates and extrapolated per audio second to all updates; evaluation is not included",
            "energy": "estimated by codecarbon from hardware power counters where readable, else from its "
            "CPU/GPU power tables and load; CO2 from the country's average carbon intensity",
            "device_hours": "wall-clock seconds x devices / 3600, summed over resumed sessions",
        },
    }


def cost_table(costs: dict) -> list[tuple[str, str]]:
    """(figure, shown value) for every scalar in costs.json, in its order."""
    return [
        (name, format_figure(value))
        for name, value in costs.items()
        if name != "schema_version" and not isinstance(value, dict)
    ]


def cost_table_text(costs: dict) -> str:
    rows = cost_table(costs)
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"  {name:<{width}}  {value}" for name, value in rows)


def write_costs(costs: dict, output_dir: Path) -> Path:
    path = Path(output_dir) / "costs.json"
    path.write_text(json.dumps(costs, indent=2) + "\n")
    return path
