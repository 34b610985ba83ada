"""The HTTP transport: OIP v2 REST and the stylex JSON endpoint (`app`), OIP JSON bodies
(`oip_json`)."""
