import subprocess
import sys

import pytest

from fourflows.cli import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_diagram_prints_mermaid_from_the_spec(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "diagram", "refund", "--format", "mermaid")
    assert code == 0
    assert "stateDiagram-v2" in out
    assert "pending --> succeeded: succeed [provider_reference_given]" in out


@pytest.mark.parametrize(
    ("argv", "complaint"),
    [
        (["diagram", "nope"], "no machine 'nope'; known: "),
        (["diagram", "refund", "--format", "png"], "invalid choice: 'png'"),
        (["bogus"], "invalid choice: 'bogus'"),
        ([], "required"),
    ],
)
def test_bad_arguments_give_one_line_and_status_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], complaint: str
) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert out == ""
    assert complaint in err
    assert err.count("\n") == 1


def test_machines_and_events(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "machines")
    assert "refund: pending, succeeded, failed, canceled\n" in out
    _, out, _ = run(capsys, "events")
    assert "cash        RefundRequested" in out


def test_demo_walks_through_money_machines_and_a_refund(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(capsys, "demo")
    assert code == 0
    assert "the parts sum to 100.00 TWD, exactly the discount" in out
    assert "9.97 CHF paid in Swiss cash (steps of 0.05): 9.95 CHF" in out
    assert "refund-0001: succeeded" in out
    assert "refund-0001 is still 'succeeded' at version 2" in out
    assert "10:06 金流   refund-0002 #2 RefundCanceled" in out


def test_demo_reserves_ships_delivers_and_collects(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "demo")
    section = out.split("Fulfilment (物流 + 金流): reserve, ship, deliver, collect\n", 1)[1]
    # the card order: 2 × 590 + 100 home delivery = 1280, held at checkout, captured when it ships
    assert "order-0001 (card, 1280.00 TWD): authorized; stock 10 on hand, 2 reserved" in section
    assert "TWPOST00000001: captured 1280.00 TWD; stock 8 on hand, 0 reserved" in section
    assert "delivered 11-21 06:00 UTC: order delivered, money paid" in section
    # cash on delivery adds the 30 COD fee: 1310; nothing is taken until the carrier collects it
    assert "order-0002 (cash_on_delivery, 1310.00 TWD): approved" in section
    assert "TWPOST00000002: captured 0 TWD; stock 6 on hand, 0 reserved" in section
    assert "cash collected 1310.00 TWD: order delivered, money paid" in section


def test_demo_prints_the_books_of_its_orders(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "demo")
    books = out.split("The books (金流)", 1)[1]
    # the card capture waits in gateway clearing, the COD cash with the carrier: 1280 + 1310
    assert "gateway_clearing                   1280.00" in books
    assert "cod_in_transit                     1310.00" in books
    assert "total                              2590.00       2590.00" in books
    assert "balanced: True; ledger agrees with the payments: True" in books


def test_import_lists_a_users_machines_too(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--import", "coupon_machine", "events")
    assert code == 0
    assert "commerce    CouponRedeemed" in out
    assert "RefundSucceeded          The provider confirmed the refund under its reference" in out
    assert "``" not in out
    code, _, err = run(capsys, "--import", "no_such_module_here", "machines")
    assert code == 2
    assert "cannot import 'no_such_module_here'" in err


def test_a_closed_pipe_ends_the_demo_quietly() -> None:
    done = subprocess.run(
        f"{sys.executable} -m fourflows demo | head -n 1",
        shell=True,
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.startswith("fourflows:")
    assert "Traceback" not in done.stderr


def test_python_dash_m_and_help() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "fourflows", "--help"], capture_output=True, text=True, check=True
    )
    assert "diagram" in done.stdout
    assert "demo" in done.stdout
