"""Uploading partner codes: exact reports, duplicates, bad rows, refused files, top-ups."""

import io

import pytest
import sqlalchemy as sa

from tessera.adapters.db import tables
from tessera.domain.errors import Invalid
from tessera.domain.lists import ListSpec
from tessera.services import lists
from tessera.services.list_upload import upload_codes


def make_list(container, tenant_id, name="Coffee", **kw):
    return lists.create_list(
        container.uow(tenant_id), ListSpec(partner="Java House", name=name, **kw)
    )


def upload(container, tenant_id, list_id, text, **kw):
    data = text.encode() if isinstance(text, str) else text
    return upload_codes(container.uow(tenant_id), list_id, io.BytesIO(data), **kw)


SEEDED = """code,description,expiry
A1,Free coffee,2027-01-31
A2,Free coffee,
,empty code,
A3,bad date,2027-13-01
A1,repeat of line 2,
A4,,2027-01-31T10:00:00+03:00
A5,naive time,2027-01-31T10:00:00
A6,too,many,fields
A7,past,2020-01-01

A8,"quoted, with comma",
A2,second repeat,
"""


def test_upload_report_is_exact_on_a_file_with_duplicates_and_bad_rows(container, tenant):
    vl = make_list(container, tenant[0])
    report = upload(container, tenant[0], vl.id, SEEDED, filename="seed.csv")
    assert (report.rows, report.accepted) == (11, 4)  # the blank line 11 is not a row
    assert (report.duplicates_in_file, report.duplicates_in_list, report.invalid) == (2, 0, 5)
    by_line = {p.line: (p.kind, p.reason) for p in report.problems}
    assert sorted(by_line) == [4, 5, 6, 8, 9, 10, 13]
    assert by_line[6] == ("duplicate_in_file", "duplicate of line 2")
    assert by_line[13] == ("duplicate_in_file", "duplicate of line 3")
    assert by_line[4] == ("invalid", "code is empty")
    assert "time zone" in by_line[8][1]
    assert "passed" in by_line[10][1]
    assert by_line[9] == ("invalid", "has 4 fields; the header has 3")
    assert lists.get_list(container.uow(tenant[0]), vl.id).utilization.uploaded == 4


def test_top_up_reports_codes_already_in_the_list(container, tenant):
    vl = make_list(container, tenant[0])
    upload(container, tenant[0], vl.id, "code\nX1\nX2\n")
    report = upload(container, tenant[0], vl.id, "code\nX2\nX3\nX3\nX1\n")
    assert (report.accepted, report.duplicates_in_list, report.duplicates_in_file) == (1, 2, 1)
    assert [(p.line, p.kind) for p in report.problems] == [
        (2, "duplicate_in_list"),
        (4, "duplicate_in_file"),
        (5, "duplicate_in_list"),
    ]
    assert report.utilization.uploaded == 3


def test_duplicates_across_chunks_are_found_by_the_store(container, tenant, monkeypatch):
    from tessera.services import list_upload

    monkeypatch.setattr(list_upload, "CHUNK", 3)
    vl = make_list(container, tenant[0])
    text = "code\n" + "\n".join(["c1", "c2", "c3", "c4", "c1", "c5", "c2"]) + "\n"
    report = upload(container, tenant[0], vl.id, text)
    assert report.accepted == 5
    assert [(p.line, p.reason) for p in report.problems] == [
        (6, "duplicate of line 2"),
        (8, "duplicate of line 3"),
    ]


def test_same_code_may_sit_in_two_lists(container, tenant):
    a, b = make_list(container, tenant[0], "A"), make_list(container, tenant[0], "B")
    assert upload(container, tenant[0], a.id, "code\nSAME\n").accepted == 1
    assert upload(container, tenant[0], b.id, "code\nSAME\n").accepted == 1


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "csv_empty"),
        (b"description,expiry\nfoo,2027-01-01\n", "csv_no_code_column"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe", "csv_not_text"),
        (b"code\nok\n" + "caf\u00e9".encode("latin-1") + b"\n", "csv_not_text"),
        (b'code\n"unterminated\n', "csv_invalid"),
    ],
)
def test_a_file_that_is_not_csv_is_refused_whole(container, tenant, data, code):
    vl = make_list(container, tenant[0])
    with pytest.raises(Invalid) as caught:
        upload(container, tenant[0], vl.id, data)
    assert (caught.value.code, caught.value.field) == (code, "file")
    with container.engine.connect() as conn:
        count = sa.select(sa.func.count()).where(tables.list_codes.c.list_id == vl.id)
        assert conn.execute(count).scalar() == 0
    assert lists.get_list(container.uow(tenant[0]), vl.id).utilization.uploaded == 0


def test_codes_are_stored_sealed_with_a_keyed_hash(container, tenant):
    vl = make_list(container, tenant[0])
    upload(container, tenant[0], vl.id, "code\nSECRET-CODE-123\n")
    with container.engine.connect() as conn:
        row = (
            conn.execute(sa.select(tables.list_codes).where(tables.list_codes.c.list_id == vl.id))
            .mappings()
            .one()
        )
    assert b"SECRET-CODE-123" not in bytes(row["code_sealed"])
    assert bytes(row["code_hash"]) == container.sealer.hash("SECRET-CODE-123")
    assert container.sealer.open(bytes(row["code_sealed"]), vl.id.bytes) == b"SECRET-CODE-123"


def test_header_columns_may_come_in_any_order_with_a_bom(container, tenant):
    vl = make_list(container, tenant[0])
    data = "\ufeffExpiry, Code ,Description\n2027-02-01,Z1,desc\n".encode()
    report = upload(container, tenant[0], vl.id, data)
    assert (report.accepted, report.problems) == (1, [])


def test_a_file_refused_midway_leaves_nothing_behind(container, tenant, monkeypatch):
    from tessera.services import list_upload

    monkeypatch.setattr(list_upload, "CHUNK", 100)  # several chunks written before the bad byte
    vl = make_list(container, tenant[0])
    good = "".join(f"GOOD-{i:06d}\n" for i in range(5000)).encode()
    with pytest.raises(Invalid) as caught:
        upload(container, tenant[0], vl.id, b"code\n" + good + b"caf\xe9\n")
    assert caught.value.code == "csv_not_text"
    with container.engine.connect() as conn:
        count = sa.select(sa.func.count()).where(tables.list_codes.c.list_id == vl.id)
        assert conn.execute(count).scalar() == 0
    assert upload(container, tenant[0], vl.id, b"code\n" + good).accepted == 5000


def test_a_line_too_long_is_one_bad_row_in_the_report(container, tenant, monkeypatch):
    from tessera.services import list_upload

    monkeypatch.setattr(list_upload, "CHUNK", 2)  # good rows on both sides of chunk edges
    vl = make_list(container, tenant[0])
    long = "L" * 200_000
    text = f"code,description\nA1,\n{long},\nA2,\nA3,{long}\nA1,again\nA4,\n"
    report = upload(container, tenant[0], vl.id, text)
    assert (report.rows, report.accepted, report.invalid, report.duplicates_in_file) == (6, 3, 2, 1)
    assert [(p.line, p.kind) for p in report.problems] == [
        (3, "invalid"),
        (5, "invalid"),
        (6, "duplicate_in_file"),
    ]
    assert lists.get_list(container.uow(tenant[0]), vl.id).utilization.uploaded == 3


def test_repeated_codes_are_reported_by_line_whatever_their_share(container, tenant, monkeypatch):
    """One in five rows repeats a code: an earlier row of the same chunk, of an earlier chunk,
    or a code an earlier upload put in the list. Each is named with its line (and, within the
    file, the line it repeats); every other row goes in."""
    import random

    from tessera.services import list_upload

    monkeypatch.setattr(list_upload, "CHUNK", 50)
    vl = make_list(container, tenant[0])
    already = [f"OLD-{i:03d}" for i in range(40)]
    upload(container, tenant[0], vl.id, "code\n" + "\n".join(already) + "\n")
    draw = random.Random(13)
    lines, first_line, expected = [], {}, {}
    for line in range(2, 502):  # line 1 is the header
        if draw.random() < 0.2 and first_line:
            code = draw.choice(list(first_line))
            expected[line] = ("duplicate_in_file", f"duplicate of line {first_line[code]}")
        elif draw.random() < 0.05:
            code = draw.choice(already)
            expected[line] = ("duplicate_in_list", "is already in the list")
        else:
            code = f"NEW-{line:04d}"
            first_line[code] = line
        lines.append(code)
    report = upload(container, tenant[0], vl.id, "code\n" + "\n".join(lines) + "\n")
    assert {p.line: (p.kind, p.reason) for p in report.problems} == expected
    assert [p.line for p in report.problems] == sorted(expected)
    assert report.accepted == len(first_line) == 500 - len(expected)
    assert report.duplicates_in_list == sum(k == "duplicate_in_list" for k, _ in expected.values())
    assert report.duplicates_in_file == sum(k == "duplicate_in_file" for k, _ in expected.values())
    assert report.duplicates_in_list > 5 and report.duplicates_in_file > 50
    assert lists.get_list(container.uow(tenant[0]), vl.id).utilization.uploaded == 40 + 500 - len(
        expected
    )


def test_the_problems_shown_are_those_of_the_lowest_lines(container, tenant, monkeypatch):
    """A chunk's repeats are known only once it is written, after later rows were read; the
    report still names the first problems of the file, in line order."""
    from tessera.services import list_upload

    monkeypatch.setattr(list_upload, "CHUNK", 4)
    monkeypatch.setattr(list_upload, "PROBLEMS_SHOWN", 3)
    vl = make_list(container, tenant[0])
    rows = ["a", "a", "b", "b", "c", "d", "", "", "", "e"]  # repeats on 3 and 5; empties 8-10
    text = "code,description\n" + "".join(f"{code},x\n" for code in rows)
    report = upload(container, tenant[0], vl.id, text)
    assert [(p.line, p.kind) for p in report.problems] == [
        (3, "duplicate_in_file"),
        (5, "duplicate_in_file"),
        (8, "invalid"),
    ]
    assert report.problems_truncated and report.invalid == 3
