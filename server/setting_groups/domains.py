"""Each data domain's own knobs: analyses and their reports' theme, queries and comparisons, model monitoring.
(docs/configuration.md lists the groups in `Settings`' order, not this file's.)"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from server.setting_groups import SettingsGroup


class AnalysisSettings(SettingsGroup):
    """Automated analyses (docs/analysis.md): stage time limits and the knobs analyzeDataset's `options` override."""

    section: ClassVar[str] = "Analyses"

    analysis_stage_timeout_seconds: float = 600
    """Longest one stage of an automated analysis may take."""
    analysis_model_budget_seconds: float = 30
    """The modeling budget of an automated analysis."""
    analysis_eda_timeout_seconds: float | None = None
    """The EDA stages' time limit, enforced while they run (docs/analysis.md); unset:
    ASSAY_ANALYSIS_STAGE_TIMEOUT_SECONDS."""
    analysis_model_timeout_seconds: float | None = None
    """The modeling stages' time limit, enforced while they run; unset: ASSAY_ANALYSIS_STAGE_TIMEOUT_SECONDS."""
    analysis_report_timeout_seconds: float | None = None
    """The report stages' time limit, enforced while they run; unset: ASSAY_ANALYSIS_STAGE_TIMEOUT_SECONDS."""
    analysis_cv_folds: int = 5
    """Cross-validation folds of an analysis's model search (analyzeDataset `options.cvFolds` overrides)."""
    analysis_early_stop_sample: int = 20_000
    """Candidates are compared on at most this many rows, then the winner fitted."""
    analysis_hgb_min_rows: int = 0
    """Gradient boosting is a candidate only from this many training rows."""
    analysis_allowed_exts: str = ""
    """Comma-separated extensions an analysis accepts (csv,parquet); empty: all."""
    analysis_large_file_mb: float = 1024
    """Above this stored size the analysis fits its model on a sample."""
    analysis_safe_auto_actions: bool = False
    """The default of analyzeDataset's safeAutoActions."""

    @property
    def analysis_defaults(self) -> dict[str, Any]:
        """The ASSAY_ANALYSIS_* knobs, by analysis option (services/analysis/options.py)."""
        from services.analysis.options import AnalysisOptions

        return self.prefixed("analysis_", AnalysisOptions.model_fields)

    @property
    def analysis_stage_limits(self) -> dict[str, float]:
        """Seconds per stage group; each unset one is ASSAY_ANALYSIS_STAGE_TIMEOUT_SECONDS."""
        default = self.analysis_stage_timeout_seconds
        given = {
            "eda": self.analysis_eda_timeout_seconds,
            "model": self.analysis_model_timeout_seconds,
            "report": self.analysis_report_timeout_seconds,
        }
        return {group: default if seconds is None else seconds for group, seconds in given.items()}


class ReportSettings(SettingsGroup):
    """The defaults of a report's theme; a report's own theme overrides them."""

    section: ClassVar[str] = "Report theme"

    report_primary: str = "#1f4e79"
    """Report theme default: the primary colour."""
    report_accent: str = "#e07b39"
    """Report theme default: the accent colour."""
    report_background: str = "#ffffff"
    """Report theme default: the background colour."""
    report_text: str = "#1a1a1a"
    """Report theme default: the text colour."""
    report_font_family: str = "Helvetica, Arial, sans-serif"
    """Report theme default: the font family."""
    report_surface: str = "#f6f8fa"
    """Report theme default: the surface (panel) colour."""
    report_muted: str = "#6a737d"
    """Report theme default: the muted text colour."""
    report_ok: str = "#2e7d32"
    """Report theme default: the colour of passing findings."""
    report_warn: str = "#b26a00"
    """Report theme default: the colour of warnings."""
    report_error: str = "#c62828"
    """Report theme default: the colour of errors."""
    report_logo_url: str = ""
    """Report theme default: a logo shown in reports (http(s); empty: none)."""

    @property
    def report_theme(self) -> dict[str, str]:
        """The ASSAY_REPORT_* defaults, by theme field."""
        theme = self.prefixed("report_")
        if not theme["logo_url"]:
            del theme["logo_url"]  # no logo unless one is set
        return theme


class QuerySettings(SettingsGroup):
    """`query(sql)`, compareDatasets, and cached chart, rows and profile answers (docs/cache.md)."""

    section: ClassVar[str] = "Queries, comparisons and the answer cache"

    sql_max_rows: int = 10_000
    """Rows one `query(sql)` may return."""
    sql_timeout_seconds: float = 10
    """A `query(sql)` running longer is interrupted."""
    sql_memory_mb: int = 512
    """DuckDB's memory for one `query(sql)`; it spills beyond."""
    comparison_sample_rows: int = Field(default=100_000, ge=1000)
    """compareDatasets: the most rows per side a drift test reads (a seeded sample beyond; statistics stay exact)."""
    cache_ttl_seconds: float = 3600
    """How long a cached chart, rows or profile answer is kept (docs/cache.md); 0 turns the cache off."""
    cache_max_entries: int = 512
    """In-process cache only: the least recently used answer goes first."""


class MonitoringSettings(SettingsGroup):
    """What predict and predictDataset record, per model and window (docs/monitoring.md)."""

    section: ClassVar[str] = "Model monitoring"

    monitoring: Literal["on", "off"] = "on"
    """Record what predict and predictDataset serve, per model and window (docs/monitoring.md)."""
    monitor_window_minutes: float = 60
    """Length of one window; windows start on multiples of it (UTC epoch)."""
    monitor_reservoir_rows: int = 500
    """Rows sampled per window and writer (a uniform bottom-k sample)."""
    monitor_retention_days: float = 30
    """Older windows and their alerts are deleted."""
    monitor_flush_seconds: float = 2
    """How often a replica writes its recorded windows and judges closed ones."""
    monitor_reference_rows: int = 5000
    """Training rows sampled as the drift reference."""
