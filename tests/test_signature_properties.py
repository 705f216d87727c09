"""Properties of the signature, exercised from trace text through the whole pipeline.

For one trace per language, everything that differs between two occurrences of the same bug
(line and column numbers, install paths, ids/GUIDs/numbers in messages, compiler-generated
counters, machine names, recursion depth, goroutine ids, addresses) is drawn at random: the
signature must not move. Changing the exception type or the top in-app function must move it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from triagebot.config import config_from_dict
from triagebot.pipeline import Pipeline

PIPELINE = Pipeline.default()
#: Mail from the products' own reporters counts as a report even without frames.
REPORTERS = Pipeline.from_config(config_from_dict({"reports": {"senders": ["acme.example"]}}))
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_SLOT = re.compile(r"\{(L|C|N|ID|GUID|HEX|MACHINE|ROOT)\}|\[\[R\]\](.*?)\[\[/R\]\]", re.S)


@dataclass(frozen=True)
class Vary:
    """The volatile values of one occurrence; each slot kind is consumed in order."""

    lines: list[int]
    counters: list[int]
    ids: list[int]
    guids: list[str]
    hexes: list[int]
    machine: str
    root: str
    depth: int


@dataclass(frozen=True)
class Case:
    """A trace template, the exception type and top in-app function token it contains, and how
    a replacement type / function name is spelled in this language."""

    language: str
    template: str
    exc_type: str
    new_type: str  # ``{}`` is filled with a fresh identifier
    top: str
    new_top: str
    roots: tuple[str, ...]  # ``{r}`` release number, ``{u}`` user


CASES = [
    Case(
        "dotnet",
        "System.InvalidOperationException: Case {ID} is locked by '{MACHINE}' ({GUID}).\n"
        "   at Acme.Desk.Client.ViewModels.CaseViewModel.<LoadAsync>d__{N}.MoveNext() in "
        "{ROOT}\\src\\Acme.Desk.Client\\ViewModels\\CaseViewModel.cs:line {L}\n"
        "--- End of stack trace from previous location where exception was thrown ---\n"
        "   at System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw()\n"
        "   at Acme.Desk.Client.Views.CaseView.<>c__DisplayClass{N}_0.<OnLoaded>b__{N}("
        "Object sender, RoutedEventArgs e) in {ROOT}\\src\\Acme.Desk.Client\\Views\\CaseView.cs"
        ":line {L}\n"
        "[[R]]   at Acme.Desk.Client.Tree.NodeWalker.Visit(Node node) in "
        "{ROOT}\\src\\Acme.Desk.Client\\Tree\\NodeWalker.cs:line {L}\n[[/R]]"
        "   at Acme.Desk.Client.App.OnStartup(StartupEventArgs e) in "
        "{ROOT}\\src\\Acme.Desk.Client\\App.xaml.cs:line {L}\n"
        "   at System.Windows.Application.<.ctor>b__1_0(Object unused)\n",
        "System.InvalidOperationException",
        "Acme.Desk.Client.{}Exception",
        "<LoadAsync>",
        "<{}Async>",
        ("C:\\Build\\Agent\\_work\\{r}\\s", "D:\\a\\{r}\\s", "C:\\Users\\{u}\\source\\repos\\Desk"),
    ),
    Case(
        "java",
        "java.lang.IllegalStateException: No session {GUID} for host '{MACHINE}' (id={ID})\n"
        "\tat com.acme.billing.InvoiceService.lambda$computeTotals${N}(InvoiceService.java:{L})\n"
        "\tat com.acme.billing.InvoiceService$$Lambda${ID}/0x0000000800{HEX}.apply("
        "Unknown Source)\n"
        "\tat java.base/java.util.stream.ReferencePipeline$3$1.accept(ReferencePipeline.java:{L})\n"
        "\tat com.acme.billing.InvoiceService.computeTotals(InvoiceService.java:{L})\n"
        "[[R]]\tat com.acme.billing.LineTree.walk(LineTree.java:{L})\n[[/R]]"
        "\tat com.acme.billing.InvoiceController.finalizeInvoice(InvoiceController.java:{L})\n"
        "\tat java.base/java.lang.Thread.run(Thread.java:{L})\n",
        "java.lang.IllegalStateException",
        "com.acme.billing.{}Exception",
        "lambda$computeTotals$",
        "lambda${}$",
        ("",),
    ),
    Case(
        "python",
        "Traceback (most recent call last):\n"
        '  File "{ROOT}/billing/api/views.py", line {L}, in post_invoice\n'
        "    invoice = service.finalize(invoice_id)\n"
        "[[R]]"
        '  File "{ROOT}/billing/tree.py", line {L}, in walk\n'
        "    return walk(child)\n"
        "[[/R]]"
        '  File "{ROOT}/billing/invoice.py", line {L}, in compute_totals\n'
        "    total += line.amount\n"
        "KeyError: 'customer {ID} on {MACHINE}'\n",
        "KeyError",
        "billing.errors.{}Error",
        "in compute_totals",
        "in {}_totals",
        ("/opt/acme/releases/{r}", "/srv/apps/billing-{r}", "/home/{u}/billing"),
    ),
    Case(
        "javascript",
        "TypeError: Cannot read properties of undefined (reading 'c{ID}') on {MACHINE}\n"
        "    at CheckoutService.applyVoucher ({ROOT}/dist/services/checkout.js:{L}:{C})\n"
        "[[R]]    at walkLines ({ROOT}/dist/utils/tree.js:{L}:{C})\n[[/R]]"
        "    at async CheckoutController.post ({ROOT}/dist/controllers/checkout.js:{L}:{C})\n"
        "    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)\n",
        "TypeError",
        "{}Error",
        "CheckoutService.applyVoucher",
        "CheckoutService.{}",
        ("/srv/api/releases/{r}", "/home/{u}/api", "/app/build-{r}"),
    ),
    Case(
        "go",
        "panic: runtime error: index out of range [{N}] with length {N}\n\n"
        "goroutine {ID} [running]:\n"
        "github.com/acme/dispatch/internal/store.(*Cache).Get(0xc000{HEX}, {0xc000{HEX}, 0x{N}})\n"
        "\t{ROOT}/internal/store/cache.go:{L} +0x{HEX}\n"
        "[[R]]github.com/acme/dispatch/internal/store.walk(...)\n"
        "\t{ROOT}/internal/store/tree.go:{L}\n[[/R]]"
        "github.com/acme/dispatch/internal/api.(*Server).handle.func{N}(0xc000{HEX})\n"
        "\t{ROOT}/internal/api/server.go:{L} +0x{HEX}\n"
        "net/http.HandlerFunc.ServeHTTP(0xc000{HEX}, {0x{HEX}, 0xc000{HEX}}, 0xc000{HEX})\n"
        "\t/usr/local/go/src/net/http/server.go:{L} +0x29\n",
        "",
        "",
        "(*Cache).Get(",
        "(*Cache).{}(",
        ("/home/runner/work/dispatch/dispatch", "/build/{r}/src", "/home/{u}/go/src/dispatch"),
    ),
    Case(
        "ruby",
        "{ROOT}/app/models/order.rb:{L}:in `total': undefined method `price' for nil "
        "(order {ID} on {MACHINE}) (NoMethodError)\n"
        "[[R]]\tfrom {ROOT}/app/models/line_tree.rb:{L}:in `walk'\n[[/R]]"
        "\tfrom {ROOT}/app/services/checkout.rb:{L}:in `call'\n"
        "\tfrom /usr/local/bundle/gems/actionpack-7.1.{N}/lib/action_controller/metal/"
        "basic_implicit_render.rb:6:in `send_action'\n",
        "(NoMethodError)",
        "({}Error)",
        "in `total'",
        "in `{}'",
        ("/srv/shop/releases/{r}", "/home/{u}/shop/releases/{r}", "/app"),
    ),
    Case(
        "php",
        "PHP Fatal error:  Uncaught TypeError: Invoice {ID} on {MACHINE} has no lines in "
        "{ROOT}/src/Billing/InvoiceCalculator.php:{L}\n"
        "Stack trace:\n"
        "#0 {ROOT}/src/Controller/InvoiceController.php({L}): "
        "App\\Billing\\InvoiceCalculator->total(NULL)\n"
        "[[R]]#1 {ROOT}/src/Billing/LineTree.php({L}): App\\Billing\\LineTree->walk(Array)\n[[/R]]"
        "#2 {ROOT}/vendor/symfony/http-kernel/HttpKernel.php({L}): "
        "App\\Controller\\InvoiceController->show('{ID}')\n"
        "#3 {main}\n"
        "  thrown in {ROOT}/src/Billing/InvoiceCalculator.php on line {L}\n",
        "Uncaught TypeError",
        "Uncaught App\\Billing\\{}Exception",
        "InvoiceCalculator->total(",
        "InvoiceCalculator->{}(",
        ("/var/www/billing", "/srv/billing/releases/{r}", "/home/{u}/billing"),
    ),
]
TYPED_CASES = [c for c in CASES if c.exc_type]

_ints = st.lists(st.integers(0, 99_999), min_size=40, max_size=40)


@st.composite
def varies(draw: st.DrawFn, case: Case) -> Vary:
    user = draw(st.from_regex(r"[a-z]{2,10}", fullmatch=True))
    release = draw(st.integers(1, 2_000_000))
    root = draw(st.sampled_from(case.roots)).format(r=release, u=user)
    return Vary(
        lines=draw(st.lists(st.integers(1, 20_000), min_size=60, max_size=60)),
        counters=draw(st.lists(st.integers(0, 60), min_size=20, max_size=20)),
        ids=draw(_ints),
        guids=[str(u) for u in draw(st.lists(st.uuids(), min_size=4, max_size=4))],
        hexes=draw(st.lists(st.integers(1, 2**32), min_size=20, max_size=20)),
        machine=draw(st.from_regex(r"[A-Z]{2,6}-[A-Z]{0,4}[0-9]{1,4}", fullmatch=True)),
        root=root,
        depth=draw(st.integers(1, 12)),
    )


def render(template: str, vary: Vary) -> str:
    """Fill the template's slots from ``vary`` (each slot kind consumed in order)."""
    used: dict[str, int] = {}
    pools: dict[str, list[str]] = {
        "L": [str(n) for n in vary.lines],
        "C": [str(n % 400 + 1) for n in vary.lines[::-1]],
        "N": [str(n) for n in vary.counters],
        "ID": [str(n) for n in vary.ids],
        "GUID": vary.guids,
        "HEX": [f"{n:x}" for n in vary.hexes],
    }

    def fill(m: re.Match[str]) -> str:
        key = m.group(1)
        if key is None:
            return "".join(_SLOT.sub(fill, m.group(2)) for _ in range(vary.depth))
        if key == "MACHINE":
            return vary.machine
        if key == "ROOT":
            return vary.root
        index = used.get(key, 0)
        used[key] = index + 1
        pool = pools[key]
        return pool[index % len(pool)]

    return _SLOT.sub(fill, template)


def signature(trace: str, vary: Vary, pipeline: Pipeline = PIPELINE) -> str:
    """The trace mailed the way a reporter would, through the pipeline; must be a report."""
    raw = (
        f"From: errors@{vary.machine.lower()}.acme.example\n"
        "To: helpdesk@acme.example\n"
        f"Subject: Unhandled exception on {vary.machine}\n"
        f"Message-ID: <{vary.guids[0]}@acme.example>\n"
        "MIME-Version: 1.0\n"
        "Content-Type: text/plain; charset=utf-8\n\n"
        f"Application: Acme\nMachine: {vary.machine}\nVersion: 4.{vary.depth}.{vary.ids[0]}\n\n"
        f"{trace}"
    ).encode()
    record = pipeline.process(raw).as_json()
    assert record["kind"] == "error_report", record
    assert record["signature"], record
    return str(record["signature"])


_identifier = st.from_regex(r"[A-Z][a-z]{3,12}", fullmatch=True)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.language)
@SETTINGS
@given(data=st.data())
def test_volatile_parts_keep_the_signature(case: Case, data: st.DataObject) -> None:
    """Two occurrences that differ only in what varies between machines, builds and runs."""
    a, b = data.draw(varies(case)), data.draw(varies(case))
    assert signature(render(case.template, a), a) == signature(render(case.template, b), b)


@pytest.mark.parametrize("case", TYPED_CASES, ids=lambda c: c.language)
@SETTINGS
@given(data=st.data())
def test_exception_type_changes_the_signature(case: Case, data: st.DataObject) -> None:
    """Same frames, another exception type: another bug."""
    vary = data.draw(varies(case))
    name = data.draw(_identifier)
    other = case.template.replace(case.exc_type, case.new_type.format(name))
    assert other != case.template
    assert signature(render(case.template, vary), vary) != signature(render(other, vary), vary)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.language)
@SETTINGS
@given(data=st.data())
def test_top_in_app_function_changes_the_signature(case: Case, data: st.DataObject) -> None:
    """Same exception type, thrown from another function: another bug."""
    vary = data.draw(varies(case))
    name = data.draw(_identifier)
    if case.language in {"python", "ruby", "java", "javascript"}:
        name = name[0].lower() + name[1:]
    new_top = case.new_top.format(name)
    other = case.template.replace(case.top, new_top)
    if other == case.template or new_top == case.top:
        return  # the drawn name is the original one
    assert signature(render(case.template, vary), vary) != signature(render(other, vary), vary)


def test_message_parts_fold_when_there_are_no_frames() -> None:
    """Without frames the message decides, with ids, GUIDs, numbers, paths and quotes folded
    (and a different wording is a different bug)."""
    template = (
        "Acme.Desk.LicenseException: License {GUID} for host '{MACHINE}' expired after {ID} "
        "days (see {ROOT}\\license.xml)\n"
    )
    case = CASES[0]
    seen = set()
    for seed in range(5):
        vary = Vary(
            lines=[seed + 1] * 60,
            counters=[seed] * 20,
            ids=[1000 + seed * 7919] * 40,
            guids=[f"{seed:08d}-0000-4000-8000-{seed * 31:012d}"] * 4,
            hexes=[seed + 1] * 20,
            machine=f"WS-ACC-{seed * 37 + 2:03d}",
            root=case.roots[seed % len(case.roots)].format(r=seed * 13, u=f"user{seed}"),
            depth=1,
        )
        seen.add(signature(render(template, vary), vary, REPORTERS))
    assert len(seen) == 1
    other = template.replace("expired", "was revoked")
    assert signature(render(other, vary), vary, REPORTERS) not in seen
