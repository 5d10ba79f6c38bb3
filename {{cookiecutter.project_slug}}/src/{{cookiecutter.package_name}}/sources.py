"""What a data file is, read without pandas: its format, CSV dialect, encoding and header.

Cheap to import (standard library only; pyarrow is imported for a Parquet header), so the
parameter checks run before any phase can compare column names with the data's header.

CSV files are sniffed from their first SNIFF_BYTES: the encoding (UTF-8 with or without a byte
order mark, UTF-16 with one, else Windows-1252, noted), the delimiter (comma, semicolon, tab or
pipe: the one that splits every sampled line into the same number of fields, the most fields
winning) and the decimal mark (a comma when the delimiter is a semicolon or tab and numbers such as
`3,5` are common).
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

SUPPORTED_SUFFIXES = (".csv", ".parquet", ".pq")
SNIFF_BYTES = 64 * 1024
SNIFF_LINES = 50
FORMAT_BYTES = 512  # first bytes that tell Parquet from text
PARQUET_MAGIC = b"PAR1"  # how every Parquet file begins (and ends)
DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
MISSING_DATA_HINT = "put your file in data/raw/ and set shared.data_path in params.yaml"
_DECIMAL_COMMA = re.compile(r"^[+-]?\d+,\d+$")
_DECIMAL_POINT = re.compile(r"^[+-]?\d*\.\d+$")

# Columns of the generated demo data (data.make_demo_data), known without generating it.
DEMO_COLUMNS: dict[str, list[str]] = {
    "classification": [
        "customer_id",
        "tenure_months",
        "monthly_charges",
        "support_calls",
        "age",
        "data_usage_gb",
        "contract",
        "payment_method",
        "region",
        "churned",
    ],
    "regression": [
        "listing_id",
        "area_m2",
        "rooms",
        "age_years",
        "distance_to_center_km",
        "lot_size_m2",
        "neighbourhood",
        "condition",
        "heating",
        "price",
    ],
}


class DataError(ValueError):
    """Input data or a data parameter the pipeline cannot use."""


@dataclass(frozen=True)
class CsvDialect:
    """How to parse a CSV file: delimiter, decimal mark, encoding, and notes on what was guessed."""

    delimiter: str = ","
    decimal: str = "."
    encoding: str = "utf-8-sig"
    notes: tuple[str, ...] = field(default_factory=tuple)


def check_file(target: Path) -> str:
    """The lower-case suffix of `target` after checking it is a supported, non-empty file."""
    if target.is_dir():
        inside = sorted(p.name for p in target.iterdir() if p.suffix.lower() in SUPPORTED_SUFFIXES)[
            :3
        ]
        hint = f" (it holds {', '.join(inside)})" if inside else ""
        raise DataError(
            f"data path {target} is a directory{hint}: set shared.data_path to one CSV or "
            "Parquet file"
        )
    suffix = target.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise DataError(
            f"cannot read {target}: unsupported file type {suffix or '(none)'!r}; "
            f"supported: {', '.join(SUPPORTED_SUFFIXES)} (save the data as CSV or Parquet)"
        )
    if not target.is_file():
        raise DataError(f"data file {target} does not exist: {MISSING_DATA_HINT}")
    if target.stat().st_size == 0:
        raise DataError(f"data file {target} is empty: export the data again")
    _check_format(target, suffix)
    return suffix


def _check_format(target: Path, suffix: str) -> None:
    """Refuse a file that cannot be opened, or whose first bytes contradict its suffix (a Parquet
    file named .csv, text or another binary format named .parquet)."""
    try:
        with open(target, "rb") as handle:
            head = handle.read(FORMAT_BYTES)
    except OSError as error:
        raise DataError(
            f"data file {target} cannot be opened ({error.strerror or error}): check that it is "
            "readable by you"
        ) from None
    parquet = head.startswith(PARQUET_MAGIC)
    if suffix == ".csv" and parquet:
        raise DataError(
            f"data file {target} is a Parquet file, not CSV text: rename it to "
            f"{target.stem}.parquet"
        )
    if suffix != ".csv" and not parquet:
        text = b"\0" not in head and _is_text(head)
        hint = "it looks like text: if it is CSV, rename it to .csv" if text else "export it again"
        raise DataError(
            f"data file {target} is not a Parquet file (it does not begin with Parquet's 'PAR1' "
            f"marker): {hint}"
        )


def _is_text(raw: bytes) -> bool:
    """Whether `raw` (the first bytes of a file) decodes as UTF-8, a cut last character allowed."""
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as error:
        return error.start >= len(raw) - 3 and len(raw) == FORMAT_BYTES
    return True


def _decode(raw: bytes, target: Path, truncated: bool) -> tuple[str, str, list[str]]:
    """(text, encoding, notes) of the sniffed bytes; a cut multi-byte character is tolerated."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16", errors="ignore"), "utf-16", ["read as UTF-16 (byte order mark)"]
    try:
        return raw.decode("utf-8-sig"), "utf-8-sig", []
    except UnicodeDecodeError as error:
        if truncated and error.start >= len(raw) - 3:  # the sample ends inside a character
            return raw[: error.start].decode("utf-8-sig"), "utf-8-sig", []
        bad, at = raw[error.start : error.start + 1], error.start
    try:
        text = raw.decode("cp1252")
    except UnicodeDecodeError:
        raise DataError(
            f"data file {target} is not UTF-8 text (byte {bad!r} at {at}) nor "
            "Windows-1252: re-save it as UTF-8 (e.g. 'CSV UTF-8' in Excel)"
        ) from None
    note = (
        f"{target.name} is not UTF-8 (byte {bad!r} at {at}): read as Windows-1252; "
        "re-save it as UTF-8 if characters look wrong"
    )
    return text, "cp1252", [note]


def _fields(lines: list[str], delimiter: str) -> list[list[str]]:
    return [row for row in csv.reader(lines, delimiter=delimiter) if row]


def sniff_csv(target: Path) -> CsvDialect:
    """The dialect of a CSV file from its first SNIFF_BYTES (see the module docstring)."""
    with open(target, "rb") as handle:
        raw = handle.read(SNIFF_BYTES)
    text, encoding, notes = _decode(raw, target, truncated=len(raw) == SNIFF_BYTES)
    lines = text.splitlines()
    if len(raw) == SNIFF_BYTES and len(lines) > 1:
        lines = lines[:-1]  # the last line may be cut
    lines = [line for line in lines if line.strip()][:SNIFF_LINES]
    if not lines:
        raise DataError(f"data file {target} is empty: export the data again")
    scores: dict[str, int] = {}
    for delimiter in DELIMITERS:
        widths = Counter(len(row) for row in _fields(lines, delimiter))
        width, count = widths.most_common(1)[0] if widths else (1, 0)
        # Every sampled line (the header too) splits into the same number of fields.
        if width > 1 and count == len(lines):
            scores[delimiter] = width
    if not scores:
        seen = {d: lines[0].count(d) for d in DELIMITERS if lines[0].count(d)}
        if len(lines) > 1 and seen:
            named = ", ".join(f"{DELIMITERS[d]} ({n} in the header)" for d, n in seen.items())
            raise DataError(
                f"data file {target}: cannot tell its delimiter; seen {named}, but the lines "
                "do not split into the same number of fields: check quoting, or re-export it as "
                "a comma-separated CSV"
            )
        delimiter = ","  # one column: a later check says what is missing
    else:
        delimiter = max(scores, key=lambda d: (scores[d], d == ","))
    if delimiter != ",":
        notes.append(f"delimiter: {DELIMITERS[delimiter]}")
    decimal = "."
    if delimiter != ",":
        values = [value.strip() for row in _fields(lines[1:], delimiter) for value in row]
        commas = sum(bool(_DECIMAL_COMMA.match(v)) for v in values)
        points = sum(bool(_DECIMAL_POINT.match(v)) for v in values)
        if commas > points:
            decimal = ","
            notes.append("decimal mark: comma")
    return CsvDialect(delimiter, decimal, encoding, tuple(notes))


def csv_header(target: Path, dialect: CsvDialect | None = None) -> list[str]:
    """Column names of a CSV file (its first line, parsed with its dialect)."""
    dialect = dialect or sniff_csv(target)
    with open(target, encoding=dialect.encoding, errors="replace", newline="") as handle:
        first = next(csv.reader(handle, delimiter=dialect.delimiter), [])
    return [name.lstrip("\ufeff") if i == 0 else name for i, name in enumerate(first)]


def parquet_header(target: Path) -> list[str]:
    """Column names of a Parquet file, from its footer."""
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(target)
    except (OSError, ValueError) as error:
        raise parquet_error(target, error) from error
    # pandas' own index columns (to_parquet with an index) are not data columns.
    metadata = schema.pandas_metadata or {}
    index = {name for name in metadata.get("index_columns", []) if isinstance(name, str)}
    return [name for name in schema.names if name not in index]


def parquet_error(target: Path, error: Exception) -> DataError:
    """A DataError for a Parquet file pyarrow cannot read (cut short or damaged)."""
    reason = str(error).split("\n")[0].rstrip(".")
    return DataError(
        f"data file {target} is not a readable Parquet file ({reason}): it may be cut short or "
        "damaged; export it again"
    )


def header(target: Path) -> list[str]:
    """Column names of a supported data file, read without loading its rows."""
    suffix = check_file(target)
    return csv_header(target) if suffix == ".csv" else parquet_header(target)


def overview(data_path: str, problem_type: str, root: Path) -> tuple[list[str], int | None]:
    """Columns of the configured data and its row count, without reading its rows (phase 00).

    Parquet: the count its footer records. CSV: estimated from the file size and the length of
    its first lines. The demo data (empty `data_path`, made in phase 01): its columns, None.
    """
    if not data_path or not str(data_path).strip():
        return list(DEMO_COLUMNS[problem_type]), None
    target = Path(str(data_path).strip()).expanduser()
    target = target if target.is_absolute() else root / target
    columns = header(target)
    if target.suffix.lower() != ".csv":
        import pyarrow.parquet as pq

        return columns, int(pq.read_metadata(target).num_rows)
    size = target.stat().st_size
    with open(target, "rb") as handle:
        head = handle.read(SNIFF_BYTES)
    lines = head.count(b"\n") + (0 if head.endswith(b"\n") else 1)
    if len(head) == size:  # the whole file: count its lines
        return columns, max(lines - 1, 0)
    return columns, max(round(size / (len(head) / max(lines, 1))) - 1, 0)
