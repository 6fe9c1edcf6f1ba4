"""Live updates end to end (docs/realtime.md): a WebSocket client against `make dev`'s local
gateway, the app's real handlers and pusher, events through the local delivery."""

from __future__ import annotations

import re
import uuid

import boto3
import pytest
import requests
from websockets.exceptions import InvalidStatus

from tests.e2e.conftest import poll
from tests.e2e.test_order_saga import Api, log_in, new_product, place, wait_for_status
from tests.ws import Socket, mentions, order_frame

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]
PASSWORD = "Shopper-Passw0rd!"
CONNECTIONS_TABLE = "storefront-local-connections"


@pytest.fixture(scope="module")
def admin(devstack) -> Api:
    return log_in(devstack, "admin@example.com", "Admin-Passw0rd!")


def new_shopper(devstack) -> Api:
    email = f"live-{uuid.uuid4().hex[:8]}@example.com"
    assert Api(devstack).call("POST", "/auth/signup", {"email": email, "password": PASSWORD,
                                                        "name": "Liv"}).status_code == 201
    return log_in(devstack, email, PASSWORD)


@pytest.fixture
def shopper(devstack) -> Api:
    return new_shopper(devstack)


@pytest.fixture
def sockets(devstack):
    opened: list[Socket] = []

    def open_socket(api: Api) -> Socket:
        opened.append(Socket(devstack.ws_url, api.token))
        return opened[-1]

    yield open_socket
    for socket in opened:
        socket.close()


def connection_items(devstack) -> list[dict]:
    return devstack.client("dynamodb").scan(TableName=CONNECTIONS_TABLE, ConsistentRead=True)["Items"]


def connection_ids_of(devstack, user_id: str) -> set[str]:
    return {item["connection_id"]["S"] for item in connection_items(devstack)
            if item.get("user_id", {}).get("S") == user_id}


def user_id_of(api: Api) -> str:
    return api.call("GET", "/users/me").json()["user_id"]


def test_the_ready_line_names_the_websocket_url(devstack):
    (ready,) = devstack.lines_containing("dev stack ready")
    assert f"WebSocket {devstack.ws_url}" in ready


@pytest.mark.parametrize("token", [None, "", "not-a-jwt", "a.b.c"])
def test_a_missing_or_malformed_token_refuses_the_handshake(devstack, token):
    before = len(connection_items(devstack))
    url = devstack.ws_url if token is None else f"{devstack.ws_url}/?token={token}"
    with pytest.raises(InvalidStatus) as refused:
        Socket(url, None)
    assert refused.value.response.status_code == 401
    assert len(connection_items(devstack)) == before  # no connection is made


def test_a_tampered_token_refuses_the_handshake(devstack, shopper):
    header, payload, signature = shopper.token.split(".")
    forged = f"{header}.{payload}.{signature[:-4]}AAAA"
    with pytest.raises(InvalidStatus) as refused:
        Socket(devstack.ws_url, forged)
    assert refused.value.response.status_code == 401
    assert connection_ids_of(devstack, user_id_of(shopper)) == set()


def test_ping_gets_pong_and_bad_messages_get_an_error_frame(shopper, sockets):
    socket = sockets(shopper)
    socket.send({"action": "ping"})
    assert socket.wait_for(lambda f: f["type"] == "pong", 10) == {"type": "pong"}
    for bad in ("not json", "[1, 2]", '{"action": "subscribe"}', "[" * 5000 + "]" * 5000):
        socket.send(bad)
    errors = poll(lambda: [f for f in socket.all() if f["type"] == "error"] if
                  len([f for f in socket.all() if f["type"] == "error"]) == 4 else None, 10, what="4 error frames")
    assert all(e["error"]["Code"] == "BadRequestError" for e in errors)
    socket.send({"action": "ping"})
    poll(lambda: socket.types().count("pong") == 2, 10, what="a second pong")  # still connected


def test_the_owner_gets_order_frames_up_to_paid_and_another_user_nothing(devstack, shopper, admin, sockets):
    other = new_shopper(devstack)
    mine, theirs, admins = sockets(shopper), sockets(other), sockets(admin)
    mug = new_product(admin, stock=5)
    order_id = place(shopper, (mug, 1)).json()["order_id"]
    paid = mine.wait_for(order_frame(order_id, "PAID"), 20, "the PAID frame")
    assert paid["order"] == shopper.call("GET", f"/orders/{order_id}").json()  # as GET /orders/{id}
    statuses = [f["order"]["status"] for f in mine.all() if order_frame(order_id)(f)]
    assert statuses[-1] == "PAID" and set(statuses) <= {"PENDING_PAYMENT", "PAID"}
    notification = mine.wait_for(lambda f: f["type"] == "notification" and mentions(f, order_id), 20)
    listed = shopper.call("GET", "/notifications?limit=100").json()["items"]
    assert notification["notification"] in listed  # as in GET /notifications
    admins.wait_for(order_frame(order_id, "PAID"), 20, "the admin's PAID frame")  # admins see every order
    assert not any(f["type"] == "notification" and mentions(f, order_id) for f in admins.all())
    theirs.send({"action": "ping"})
    theirs.wait_for(lambda f: f["type"] == "pong", 10)
    assert not any(mentions(f, order_id) for f in theirs.all()), theirs.all()  # nothing about another's order


def test_cancel_and_refund_are_pushed(shopper, admin, sockets):
    socket = sockets(shopper)
    mug = new_product(admin, stock=3)
    order_id = place(shopper, (mug, 1)).json()["order_id"]
    socket.wait_for(order_frame(order_id, "PAID"), 20)
    assert shopper.call("POST", f"/orders/{order_id}/cancel").status_code == 200
    socket.wait_for(order_frame(order_id, "CANCELLED"), 20, "the CANCELLED frame")
    socket.wait_for(lambda f: f["type"] == "notification" and "refund" in f["notification"]["subject"].lower(),
                    20, "the refund notification")
    assert shopper.call("GET", f"/orders/{order_id}/payment").json()["status"] == "REFUNDED"


def test_a_closed_connection_is_removed_and_a_stale_one_is_cleaned_up_on_the_next_push(devstack, shopper, admin,
                                                                                      sockets):
    user_id = user_id_of(shopper)
    first, second = sockets(shopper), sockets(shopper)
    assert len(poll(lambda: connection_ids_of(devstack, user_id) if len(connection_ids_of(devstack, user_id)) == 2
                    else None, 10, what="two connection items")) == 2
    first.close()
    poll(lambda: len(connection_ids_of(devstack, user_id)) == 1, 10, what="$disconnect removing the item")
    # A connection API Gateway dropped without a $disconnect reaching the app: only the table knows it.
    stale = "gone0000000000=="
    devstack.client("dynamodb").put_item(TableName=CONNECTIONS_TABLE, Item={
        "pk": {"S": f"CONNECTION#{stale}"}, "sk": {"S": "CONNECTION"}, "connection_id": {"S": stale},
        "user_id": {"S": user_id}, "is_admin": {"BOOL": False}, "connected_at": {"S": "2026-01-01T00:00:00.000Z"},
        "gsi1pk": {"S": f"USER#{user_id}"}, "gsi1sk": {"S": f"CONNECTION#{stale}"},
        "expires_at": {"N": "4102444800"}})
    assert stale in connection_ids_of(devstack, user_id)
    order_id = place(shopper, (new_product(admin, stock=2), 1)).json()["order_id"]
    second.wait_for(order_frame(order_id), 20)  # the live connection still gets its frames
    poll(lambda: stale not in connection_ids_of(devstack, user_id), 20, what="the stale connection removed")


def test_admins_get_import_frames_until_it_finishes_and_shoppers_none(devstack, shopper, admin, sockets):
    admins, mine = sockets(admin), sockets(shopper)
    start = admin.call("POST", "/imports", {"filename": "live.csv"}).json()
    rows = [f"LIVE-{uuid.uuid4().hex[:8]}-{i},Live item,,100,,,3" for i in range(3)] + ["bad,,,,,,"]
    body = "sku,name,description,price_cents,currency,category,stock\n" + "\n".join(rows)
    assert requests.put(start["upload_url"], data=body.encode(), headers=start["headers"], timeout=10).ok
    done = admins.wait_for(lambda f: f["type"] == "import" and f["import"]["import_id"] == start["import_id"]
                           and f["import"]["status"] == "COMPLETED", 30, "the finished import's frame")
    assert done["import"] == admin.call("GET", f"/imports/{start['import_id']}").json()
    assert (done["import"]["rows_imported"], done["import"]["rows_failed"]) == (3, 1)
    mine.send({"action": "ping"})
    mine.wait_for(lambda f: f["type"] == "pong", 10)
    assert not any(f["type"] == "import" for f in mine.all())


def test_the_management_api_knows_live_connections_and_answers_gone_for_others(devstack, shopper, sockets):
    (line,) = devstack.lines_containing("management API")
    endpoint = re.search(r"management API (http://[0-9.:]+)", line).group(1)
    client = boto3.client("apigatewaymanagementapi", endpoint_url=f"{endpoint}/api", region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    socket = sockets(shopper)
    (connection_id,) = poll(lambda: connection_ids_of(devstack, user_id_of(shopper)), 10, what="the connection")
    assert "ConnectedAt" in client.get_connection(ConnectionId=connection_id)
    client.post_to_connection(ConnectionId=connection_id, Data=b'{"type": "hello"}')
    socket.wait_for(lambda f: f["type"] == "hello", 10)
    with pytest.raises(client.exceptions.GoneException):
        client.post_to_connection(ConnectionId="unknown0000000=", Data=b"{}")
    client.delete_connection(ConnectionId=connection_id)
    poll(lambda: not connection_ids_of(devstack, user_id_of(shopper)), 10, what="the closed connection removed")
    with pytest.raises(client.exceptions.GoneException):
        client.get_connection(ConnectionId=connection_id)


def test_polling_path_still_works_without_a_socket(shopper, admin):
    order_id = place(shopper, (new_product(admin, stock=2), 1)).json()["order_id"]
    wait_for_status(shopper, order_id, "PAID")
