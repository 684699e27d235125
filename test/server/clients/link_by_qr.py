"""Links a session the way a Python program would: python-socketio's Client with its defaults
(polling first, then the upgrade to websocket), get_qr, then a simulated scan over HTTP.

Usage: python3 link_by_qr.py HUB_URL TOKEN SESSION_ID
Prints one JSON line per step; exits 0 once the session is authenticated.
"""
import json
import sys
import threading

import requests
import socketio

url, token, session_id = sys.argv[1], sys.argv[2], sys.argv[3]
linked = threading.Event()
printing = threading.Lock()
sio = socketio.Client(reconnection=False)


def report(step, **fields):
    # Handlers run on python-socketio's threads: one whole line at a time.
    with printing:
        sys.stdout.write(json.dumps({"step": step, **fields}) + "\n")
        sys.stdout.flush()


@sio.on("connected")
def on_connected(data):
    report("connected", transport=sio.transport(), provider=data["provider"])


@sio.on("qr_code")
def on_qr_code(data):
    report("qr_code", session_id=data["session_id"], transport=sio.transport())
    response = requests.post(
        f"{url}api/sessions/{data['session_id']}/simulate-scan",
        json={"qr_data": data["qr_data"], "name": "Python"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    report("scan", status=response.status_code)


@sio.on("authenticated")
def on_authenticated(data):
    report("authenticated", session_id=data["session_id"], user=data["user"])
    linked.set()


sio.connect(url, auth={"token": token})
ack = sio.call("get_qr", {"session_id": session_id}, timeout=10)
report("ack", ack=ack)
ok = linked.wait(15)
report("done", transport=sio.transport())
sio.disconnect()
sys.exit(0 if ok else 1)
