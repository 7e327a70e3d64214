"""Writes the messy-CSV corpus beside this script. Run it to regenerate; the files are checked in."""

from __future__ import annotations

import gzip
from pathlib import Path

HERE = Path(__file__).parent


OTHER_ENCODINGS = {
    "shift_jis": (
        "名前,都市,価格,備考\n"
        "山田太郎,東京,1200,新しい商品です\n"
        "佐藤花子,大阪,980,送料無料でお届けします\n"
        "鈴木一郎,名古屋,1500,在庫があります\n"
        "高橋美咲,札幌,2300,ご注文ありがとうございます\n"
        "田中健太,福岡,760,お問い合わせはこちら\n"
        "渡辺ソフト,横浜,4100,表示テスト\n"
    ),  # ソ and 表 end in byte 0x5C, a backslash in ASCII
    "euc_kr": (
        "이름,도시,가격,비고\n"
        "김철수,서울,1200,새로운 상품입니다\n"
        "이영희,부산,980,무료 배송해 드립니다\n"
        "박민수,대구,1500,재고가 있습니다\n"
        "최지우,인천,2300,주문해 주셔서 감사합니다\n"
        "정하늘,광주,760,문의는 여기로 해주세요\n"
    ),
    "gb18030": (
        "姓名,城市,价格,备注\n"
        "张伟,北京,1200,这是新产品\n"
        "王芳,上海,980,免费送货上门\n"
        "李娜,广州,1500,目前有库存\n"
        "刘洋,深圳,2300,感谢您的订购\n"
        "陈静,成都,760,欢迎随时咨询\n"
    ),
    "cp1251": (
        "имя,город,цена,примечание\n"
        "Иван,Москва,1200,новый товар\n"
        "Мария,Санкт-Петербург,980,бесплатная доставка\n"
        "Сергей,Новосибирск,1500,есть в наличии\n"
        "Ольга,Екатеринбург,2300,спасибо за заказ\n"
        "Дмитрий,Казань,760,пишите нам\n"
    ),
}
OTHER_ENCODINGS["koi8_r"] = OTHER_ENCODINGS["cp1251"]  # the same words, other bytes: only detection tells them apart


def write(name: str, data: bytes) -> None:
    (HERE / name).write_bytes(data)


def main() -> None:
    # European export: semicolons, decimal commas, day-first dates, a thousands point.
    write(
        "semicolon_decimal_comma.csv",
        (
            "Datum;Artikel;Menge;Preis\n"
            "01.02.2024;Käse;3;4,50\n"
            "02.02.2024;Brot;1;2,25\n"
            "03.02.2024;Äpfel;12;0,99\n"
            "04.02.2024;Milch;2;1,15\n"
        ).encode(),
    )
    # Windows-1252: curly quotes, euro sign and accented letters that are not valid UTF-8.
    write(
        "cp1252.csv",
        ("city,remark,price\nMontréal,“great” café,€5\nZürich,naïve façade,€7\nSão Paulo,crème brûlée,€3\n").encode(
            "cp1252"
        ),
    )
    for encoding, text in OTHER_ENCODINGS.items():  # legacy encodings that cp1252 would turn into mojibake
        write(f"{encoding}.csv", text.encode(encoding))
    # Too little non-UTF-8 text to tell its encoding: read with a warning, never silently.
    write("unsure_encoding.csv", "a,b\nx,éè\n".encode("cp1252"))
    write("utf8_bom.csv", "\ufeffname,age\nÅsa,31\nBjörn,45\n".encode("utf-8"))
    write("utf16_bom.csv", "name,age\nÅsa,31\nBjörn,45\n".encode("utf-16"))
    write("tabs.tsv", b"sku\tqty\tin_stock\nA-1\t5\ttrue\nB-2\t0\tfalse\nC-3\t12\ttrue\n")
    write(
        "quoted_newlines.csv",
        (b'id,comment,rating\r\n1,"Line one\r\nline two",5\r\n2,"She said ""hello""",4\r\n3,"comma, inside",3\r\n'),
    )
    write("cr_only.csv", b"a,b,c\r1,2,3\r4,5,6\r7,8,9\r")
    write("preamble.csv", b"# exported by tool v2\n# generated 2024-01-01\n\nx,y\n1,10\n2,20\n3,30\n")
    write("null_tokens.csv", b"k,v,w\na,1,x\nb,NA,N/A\nc,NULL,.\nd,,NONE\ne,5,y\n")
    write("no_header.csv", b"1,2.5,3\n4,5.5,6\n7,8.5,9\n10,11.5,12\n")
    write(
        "spaces.txt", b"name    height   weight\nann     1.62     55.0\nbob     1.80     80.5\ncy      1.75     70.1\n"
    )
    write("pipes.txt", b"a|b|c\nx|1|2024-01-01\ny|2|2024-01-02\nz|3|2024-01-03\n")
    write("gzipped.csv.gz", gzip.compress(b"n,sq\n" + b"".join(f"{i},{i * i}\n".encode() for i in range(1000))))
    # Bad cases.
    write("ragged.csv", b"a,b,c\n1,2,3\n4,5,6\n7,8,9,10\n11,12,13\n")
    write("header_only.csv", b"a,b,c\n")
    # csvkit's examples/bad.csv and examples/test_extra_header.csv: tiny files, ragged, the delimiter certain.
    write(
        "csvkit_bad.csv",
        b'column_a,column_b,column_c\n1,27,,"I\'m too long!"\n,"I\'m too short!"\n0,mixed types.... uh oh,17\n',
    )
    write("csvkit_extra_header.csv", b"a,b,c,d\n1,2,3\n")
    write("empty.csv", b"")
    write("fake.xlsx", b"PK\x03\x04" + bytes(200))
    write("binary.csv", bytes(range(256)) * 20)


if __name__ == "__main__":
    main()
