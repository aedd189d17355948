"""irctest controller for evsockd.

irctest (the IRC servers' shared conformance suite) loads a controller
module by name; tests/irctest/run copies this file into an irctest
checkout as irctest/controllers/evsockd.py.  EVSOCKD names the binary
(default: evsockd on PATH).
"""

import os
import shutil
from typing import Optional, Set, Type

from irctest.basecontrollers import BaseServerController, DirectoryBasedController
from irctest.runner import NotImplementedByController



class EvsockdController(BaseServerController, DirectoryBasedController):
    software_name = "evsockd"
    supported_sasl_mechanisms: Set[str] = set()
    supports_sts = False

    def create_config(self) -> None:
        super().create_config()
        with self.open_file("evsockd.conf"):
            pass

    def run(
        self,
        hostname: str,
        port: int,
        *,
        password: Optional[str],
        ssl: bool,
        run_services: bool,
        faketime: Optional[str],
        websocket_hostname: Optional[str],
        websocket_port: Optional[int],
    ) -> None:
        if websocket_hostname is not None or websocket_port is not None:
            raise NotImplementedByController("Websocket")
        if ssl:
            raise NotImplementedByController("TLS")
        if run_services:
            raise NotImplementedByController("services")
        assert self.proc is None
        self.port = port
        self.hostname = hostname
        self.create_config()
        assert self.directory

        binary = os.environ.get("EVSOCKD") or shutil.which("evsockd") or "evsockd"
        args = [
            binary,
            "--listen", "chat={}:{}".format(hostname, port),
            "--server-name", "My.Little.Server",
            "--server-info", "test server",
            "--flood-rate", "0",
        ]
        if password:
            with self.open_file("password") as fd:
                fd.write(password + "\n")
            args += ["--password-file", str(self.directory / "password")]
        # Server operators live only in the config file: the OPER tests
        # use operuser/operpassword.
        oper_hash = os.environ.get("EVSOCKD_OPER_HASH")
        if oper_hash:
            with self.open_file("evsockd.conf") as fd:
                fd.write("oper operuser {}\n".format(oper_hash))
            args += ["--config", str(self.directory / "evsockd.conf")]
        self.proc = self.execute(args)


def get_irctest_controller_class() -> Type[EvsockdController]:
    return EvsockdController
