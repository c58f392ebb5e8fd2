"""`kefu ask`, `kefu eval` and `kefu serve`."""


def add_commands(sub) -> None:
    pass
