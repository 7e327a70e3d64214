"""Writes the messy-CSV corpus beside this script. Run it to regenerate; the files are checked in."""
from __future__ import annotations

import gzip
from pathlib import Path

HERE = Path(__file__).parent


def write(name: str, data: bytes) -> None:
    (HERE / name).write_bytes(data)


def main() -> None:
    # European export: semicolons, decimal commas, day-first dates, a thousands point.
    write("semicolon_decimal_comma.csv", (
        "Datum;Artikel;Menge;Preis\n"
        "01.02.2024;Käse;3;4,50\n"
        "02.02.2024;Brot;1;2,25\n"
        "03.02.2024;Äpfel;12;0,99\n"
        "04.02.2024;Milch;2;1,15\n").encode("utf-8"))
    # Windows-1252: curly quotes, euro sign and accented letters that are not valid UTF-8.
    write("cp1252.csv", (
        "city,remark,price\n"
        "Montréal,“great” café,€5\n"
        "Zürich,naïve façade,€7\n"
        "São Paulo,crème brûlée,€3\n").encode("cp1252"))
    write("utf8_bom.csv", "\ufeffname,age\nÅsa,31\nBjörn,45\n".encode("utf-8"))
    write("utf16_bom.csv", "name,age\nÅsa,31\nBjörn,45\n".encode("utf-16"))
    write("tabs.tsv", b"sku\tqty\tin_stock\nA-1\t5\ttrue\nB-2\t0\tfalse\nC-3\t12\ttrue\n")
    write("quoted_newlines.csv", (
        'id,comment,rating\r\n'
        '1,"Line one\r\nline two",5\r\n'
        '2,"She said ""hello""",4\r\n'
        '3,"comma, inside",3\r\n').encode())
    write("cr_only.csv", b"a,b,c\r1,2,3\r4,5,6\r7,8,9\r")
    write("preamble.csv", b"# exported by tool v2\n# generated 2024-01-01\n\nx,y\n1,10\n2,20\n3,30\n")
    write("null_tokens.csv", b"k,v,w\na,1,x\nb,NA,N/A\nc,NULL,.\nd,,NONE\ne,5,y\n")
    write("no_header.csv", b"1,2.5,3\n4,5.5,6\n7,8.5,9\n10,11.5,12\n")
    write("spaces.txt", b"name    height   weight\nann     1.62     55.0\nbob     1.80     80.5\ncy      1.75     70.1\n")
    write("pipes.txt", b"a|b|c\nx|1|2024-01-01\ny|2|2024-01-02\nz|3|2024-01-03\n")
    write("gzipped.csv.gz", gzip.compress(b"n,sq\n" + b"".join(f"{i},{i * i}\n".encode() for i in range(1000))))
    # Bad cases.
    write("ragged.csv", b"a,b,c\n1,2,3\n4,5,6\n7,8,9,10\n11,12,13\n")
    write("header_only.csv", b"a,b,c\n")
    write("empty.csv", b"")
    write("fake.xlsx", b"PK\x03\x04" + bytes(200))
    write("binary.csv", bytes(range(256)) * 20)


if __name__ == "__main__":
    main()
