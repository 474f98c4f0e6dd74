"""Write the office files of the sample corpus: an HWPX, a scanned PDF, a screenshot, a
PPTX and an XLSX, the way a Korean office folder holds them.

    .venv/bin/python sample_corpus/make_office_files.py

The texts are written for this project (CC0, like the other documents). The writers
are those of `evalsets/office-ko/build.py` (hwpforge for the HWPX, openpyxl for the
sheet, Pillow for the scan and the screenshot: drawn, tilted, blurred, saved as JPEG
in a PDF with no text layer; a window drawn at screen size), and python-pptx for the
slides, which have titles, bullets and speaker notes. Dates and zip member times are
fixed, so two runs write the same bytes on the same machine (the scan's and the
screenshot's pixels depend on the installed Pillow, FreeType and fonts-noto-cjk).
"""

from __future__ import annotations

import importlib.util
import io
from pathlib import Path

HERE = Path(__file__).resolve().parent
BUILD = HERE.parent / "evalsets" / "office-ko" / "build.py"

LEAVE = """연차 휴가 신청 안내

연차 휴가는 사용하려는 날의 3일 전까지 인사 시스템에서 신청합니다.
반차는 오전(09:00~13:00) 또는 오후(14:00~18:00) 단위로 쓸 수 있습니다.
팀장 승인 후 휴가 일정이 팀 달력에 자동으로 표시됩니다.
남은 연차 일수는 인사 시스템의 '나의 근태' 메뉴에서 확인하세요.
"""

FIRE_DRILL = """관리사무소 알림: 건물 소방 점검 안내

3월 14일(목) 오전 10시부터 12시까지 전 층 소방 설비 점검을 실시합니다.
점검 중에는 화재 경보기가 여러 번 울릴 수 있으니 놀라지 마시기 바랍니다.
스프링클러와 소화기 점검을 위해 사무실 출입문을 열어 두십시오.

문의: 관리사무소 내선 2114
"""

DELIVERY = """배송 조회

운송장 번호 6094-2281-7730
상품: 사무용 의자 2개
현재 위치: 서울 강남 물류센터
배송 예정일: 3월 15일(금) 오후
배송 기사님 연락처는 배송 당일 문자로 안내됩니다.
"""

SLIDES = [
    ("신입사원 온보딩 교육", ["첫 주 일정 안내"], ""),
    (
        "첫날 할 일",
        ["사원증 발급 (1층 보안실)", "노트북 수령 및 계정 설정", "팀 소개와 점심 식사"],
        "보안 교육 영상은 첫날 오후에 시청합니다.",
    ),
    (
        "자주 묻는 질문",
        ["식대는 월 20만 원이 급여와 함께 지급됩니다", "재택 근무는 입사 3개월 후부터 가능합니다"],
        "",
    ),
]

BUDGET = [
    ("부서", "항목", "금액(만 원)"),
    ("영업팀", "출장비", 1200),
    ("개발팀", "서버 비용", 3400),
    ("인사팀", "교육비", 800),
    ("디자인팀", "소프트웨어 구독", 650),
    ("총무팀", "사무용품", 300),
]


def office_writers():  # type: ignore[no-untyped-def]
    """evalsets/office-ko/build.py, loaded as a module: its writers and fixed dates."""
    spec = importlib.util.spec_from_file_location("office_ko_build", BUILD)
    assert spec and spec.loader
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    return build


def write_pptx(build) -> bytes:  # type: ignore[no-untyped-def]
    from pptx import Presentation

    deck = Presentation()
    for title, bullets, notes in SLIDES:
        layout = deck.slide_layouts[0] if len(bullets) == 1 else deck.slide_layouts[1]
        slide = deck.slides.add_slide(layout)
        slide.shapes.title.text = title
        body = slide.placeholders[1].text_frame
        body.text = bullets[0]
        for line in bullets[1:]:
            body.add_paragraph().text = line
        if notes:
            slide.notes_slide.notes_text_frame.text = notes
    deck.core_properties.created = deck.core_properties.modified = build.WHEN
    deck.core_properties.last_printed = build.WHEN
    buf = io.BytesIO()
    deck.save(buf)
    return build.fixed_zip(buf.getvalue())


def write_xlsx(build) -> bytes:  # type: ignore[no-untyped-def]
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = "2026년 예산"
    for row in BUDGET:
        sheet.append(row)
    book.properties.creator = book.properties.lastModifiedBy = "semsearch"
    buf = io.BytesIO()
    book.save(buf)
    return build.fixed_zip(build.fix_core_dates(buf.getvalue()))


def main() -> None:
    build = office_writers()
    files = {
        HERE / "docs" / "연차_휴가_신청_안내.hwpx": build.write_hwpx(LEAVE, "연차_휴가_신청_안내"),
        HERE / "docs" / "소방_점검_안내문.pdf": build.write_pdf(FIRE_DRILL, "소방_점검_안내문"),
        HERE / "docs" / "신입사원_교육.pptx": write_pptx(build),
        HERE / "docs" / "부서별_예산.xlsx": write_xlsx(build),
        HERE / "images" / "택배_배송_조회.png": build.write_png(DELIVERY, "택배_배송_조회", 3),
    }
    for path, data in files.items():
        path.write_bytes(data)
        print(f"{path.relative_to(HERE)}: {len(data):,} bytes")


if __name__ == "__main__":
    main()
