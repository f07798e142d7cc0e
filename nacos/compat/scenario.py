"""The observable behaviour a Python service relies on, through nacos-sdk-python 0.1.17.

Prints one line per observation, so two servers can be compared line by line:
  python scenario.py <host:port> <log dir> <unique tag>
Used by keel's test suite (server/tests/nacos_python.rs, against `keel serve`, compared with
scenario.expected) and by compare.sh (the same script against r-nacos and keel, diffed).

Only behaviour Nacos, r-nacos and keel share is observed (docs/nacos-wire.md §8): no
instanceId formats, no error statuses, no `enable=`, no history, beta or casMd5.
"""
import queue
import sys
import time

import nacos

addr, log_dir, tag = sys.argv[1], sys.argv[2], sys.argv[3]


def say(label, value):
    print(f"{label}: {value!r}", flush=True)


c = nacos.NacosClient(addr, namespace="", username="nacos", password="nacos", logDir=log_dir)
say("logged in", bool(c.token))

# Config: publish, read, watch a change, delete.
data_id, group = f"compat-{tag}.properties", "DEFAULT_GROUP"
say("get missing", c.get_config(data_id, group, no_snapshot=True))
say("publish", c.publish_config(data_id, group, "a=1\nb = 2", config_type="properties"))
say("get", c.get_config(data_id, group, no_snapshot=True))
seen = queue.Queue()
c.add_config_watcher(data_id, group, lambda event: seen.put(event["content"]))
time.sleep(1)
say("publish again", c.publish_config(data_id, group, "a=2", config_type="properties"))
say("watcher saw", seen.get(timeout=15))
say("get after change", c.get_config(data_id, group, no_snapshot=True))
say("remove", c.remove_config(data_id, group))
say("watcher saw after remove", seen.get(timeout=15))
say("get after remove", c.get_config(data_id, group, no_snapshot=True))

# Another namespace is another tenant.
other = nacos.NacosClient(addr, namespace="compat-ns", username="nacos", password="nacos",
                          logDir=log_dir)
say("publish in namespace", other.publish_config(data_id, group, "ns=1"))
say("get in namespace", other.get_config(data_id, group, no_snapshot=True))
say("get in public", c.get_config(data_id, group, no_snapshot=True))
say("remove in namespace", other.remove_config(data_id, group))

# Naming: register, beat, list, deregister.
service = f"compat-svc-{tag}"


def hosts(listing):
    return sorted(
        (h["ip"], h["port"], h["healthy"], h["weight"], sorted(h["metadata"].items()))
        for h in listing["hosts"]
    )


say("register", c.add_naming_instance(service, "10.0.0.1", 8080, cluster_name="DEFAULT",
                                      metadata={"k": "v"}))
say("beat", c.send_heartbeat(service, "10.0.0.1", 8080, cluster_name="DEFAULT",
                             metadata={"k": "v"})["code"])
say("list", hosts(c.list_naming_instance(service, healthy_only=True)))
say("deregister", c.remove_naming_instance(service, "10.0.0.1", 8080, cluster_name="DEFAULT"))
say("list after deregister", hosts(c.list_naming_instance(service, healthy_only=True)))
print("done", flush=True)
