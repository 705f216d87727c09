"""create-react-app's error overlay, copied from the browser, is read as a JavaScript trace
(``triagebot.stack.extra.react_overlay``): a function line over a location line per frame, the
source around it, "View compiled" and folds between frames. The reader came with signature v5:
older versions sign what the text gave before it (``Trace.since``).

The excerpts are copied verbatim: the first two from the real-trace corpus
(``bench/realworld/INDEX.tsv`` names their issue threads), the others from public notes kept in
Markdown in public repositories."""

from __future__ import annotations

from email.message import EmailMessage

from hypothesis import given
from hypothesis import strategies as st

from triagebot.mail.parse import ParseSettings, parse_message
from triagebot.mail.report import Kind
from triagebot.stack.detect import find_trace
from triagebot.stack.extra import react_overlay
from triagebot.stack.model import Trace
from triagebot.stack.signature import Signer

V4, V5 = Signer("v4"), Signer("v5")

# basir/ecommerce-shopping-cart issue 11
SHOPPING_CART = """\
TypeError: Cannot read property 'map' of undefined
Products.render
C:/Users/Apurva/myprojects/ecommerce-shopping-cart/src/components/Products.js:5
  2 | import util  from '../util';
  3 | export default class Products extends Component {
  4 |     render() {
> 5 |         const productItems = this.props.products.map( product=> (
  6 |             <div className="col-md-4">
  7 |                 <div className="thumbnail text-center">
  8 |                    <a href={"#$[product.id]"} onClick={this.props.handleAddToCard}>
"""
# arunoda/react-komposer issue 54: the caret's line joined with the next source line.
HOME_SCREEN = """\
TypeError: Cannot read property 'map' of undefined
HomeScreen
C:/Users/user/Documents/React_Projects/shoppingwebsite/frontend/src/screens/HomeScreen.js:22
  19 | 
  20 |  return loading? <div>Loading..</div>:
  21 |    error?<div></div>:
> 22 |    <ul className="products">
     | ^  23 |    {products.map(product=>
  24 |        <li key={product._id}>
  25 |         <div className="product">
"""  # noqa: W291
# Two frames, each with its source, link and fold, under the overlay's own header lines.
LETTER = """\
×
←→1 of 5 errors on the page
Error: too late
▶ 6 stack frames were collapsed.
Letter.componentWillLeave
src/components/Letter.js:36
  33 | let node = d3.select(this.refs.letter);
  34 | this.setState({color: ExitColor});
  35 | 
> 36 | node.transition(this.transition)
  37 |   .attr('y',60).style('fill-opacity',1e-6)
  38 |   .on('end', () => {
  39 |     this.setState({y: 60, fillOpacity: 1e-6});
View compiled
▶ 2 stack frames were collapsed.
SVGTextElement.<anonymous>
src/components/Letter.js:27
  24 |     .attr('y',0).style('fill-opacity',1)
  25 |     .on('end', () => {
  26 |       this.setState({y:0, fillOpacity:1, color:UpdateColor});
> 27 |       callback()
  28 |     })
  29 | }
  30 | 
View compiled
▶ 4 stack frames were collapsed.
"""  # noqa: W291
# A rejected promise, an anonymous function, a relative path.
REJECTION = """\
Unhandled Rejection (TypeError): getPrefixCls is not a function
▶ 2 stack frames were collapsed.
(anonymous function)
./src/pages/register.jsx:62
  59 |   "password": values.password,
  60 | }).then(res => {
  61 |   history.push('/login') // /
> 62 |   api.info({ // antd notification
     | ^  63 |     message: '通知',
"""


def found(text: str) -> Trace:
    trace = find_trace(text)
    assert trace is not None
    return trace


def frames(trace: Trace) -> list[tuple[str, str | None, int | None]]:
    return [(f.function, f.file, f.line) for f in trace.exceptions[0].frames]


def test_each_function_and_location_pair_is_a_frame() -> None:
    trace = found(LETTER)
    assert (trace.language, trace.exceptions[0].type) == ("javascript", "Error")
    assert trace.exceptions[0].message == "too late"
    assert frames(trace) == [
        ("Letter.componentWillLeave", "src/components/Letter.js", 36),
        ("SVGTextElement.<anonymous>", "src/components/Letter.js", 27),
    ]


def test_a_rejected_promise_is_named_by_the_error_it_carries() -> None:
    trace = found(REJECTION)
    assert trace.exceptions[0].type == "TypeError"
    assert frames(trace) == [("(anonymous function)", "./src/pages/register.jsx", 62)]


def test_one_component_on_two_machines_is_one_bug_and_two_components_are_two() -> None:
    other_user = SHOPPING_CART.replace("C:/Users/Apurva/", "D:/dev/").replace(":5\n", ":7\n")
    assert V5.sign(found(SHOPPING_CART)).value == V5.sign(found(other_user)).value
    assert V5.sign(found(SHOPPING_CART)).value != V5.sign(found(HOME_SCREEN)).value
    assert V5.sign(found(SHOPPING_CART)).title == "TypeError in Products.render"


def test_versions_before_the_reader_sign_the_text_as_it_read_before() -> None:
    """Under v4 both overlays are the same bare exception line, as they were when v4 stored
    them; under v5 they are two components' bugs."""
    trace = found(SHOPPING_CART)
    assert trace.since == "v5" and trace.first_reading is not None
    assert V4.sign(trace).value == V4.sign(trace.first_reading).value
    assert V4.sign(trace).value == V4.sign(found(HOME_SCREEN)).value
    assert V5.sign(trace).basis == "app-frames"


def mail(body: str) -> bytes:
    message = EmailMessage()
    message["From"] = "dev@customer.example"
    message["To"] = "helpdesk@example.com"
    message["Subject"] = "the shop page is blank"
    message["Message-ID"] = "<overlay-1@customer.example>"
    message.set_content(f"Hi,\n\nthe page shows this:\n\n{body}\nThanks\n")
    return bytes(message)


def test_an_overlay_in_a_mail_is_a_report_even_with_its_marked_line_taken_for_a_quote() -> None:
    report = parse_message(mail(SHOPPING_CART))
    assert report.kind is Kind.ERROR_REPORT
    assert report.trace is not None and frames(report.trace)[0][0] == "Products.render"


def test_under_a_version_before_the_reader_the_overlay_stays_what_it_was() -> None:
    """A service configured with v4 decides as before the reader came: the overlay's header
    alone is a mention, so no report is signed by its type and message, which two bugs share."""
    v4 = ParseSettings(signature_version="v4")
    assert parse_message(mail(SHOPPING_CART), v4).kind is Kind.OTHER
    assert parse_message(mail(SHOPPING_CART), ParseSettings()).kind is Kind.ERROR_REPORT


def test_locations_without_the_overlays_marks_are_not_a_stack() -> None:
    """A list of files, or a location with a caret but no function line, is not a trace."""
    listing = "Changed files:\nREADME\nsrc/index.js:5\nApp\nsrc/App.js:12\n"
    assert react_overlay.read(listing) is None
    next_js = "src/app/ui/HotCreators.js (24:26) @ map\n\n> 24 |  {creators.map((c) => (\n"
    assert react_overlay.read(next_js) is None
    assert not react_overlay.has_marker(listing)


_PIECES = st.sampled_from(
    ["\n", "App.render", "src/App.js:12", "> 5 | x", "  4 | y", "     | ^", "View compiled",
     "▶ 3 stack frames were collapsed.", "TypeError: x", "(anonymous function)", " ", ":"]
)  # fmt: skip


@given(st.lists(_PIECES, max_size=40).map("".join))
def test_reads_any_text_without_failing(text: str) -> None:
    """Whatever the pieces, a trace it reads has frames and only where its marks are."""
    trace = react_overlay.read(text)
    if trace is not None:
        assert trace.frame_count > 0 and react_overlay.has_marker(text)
