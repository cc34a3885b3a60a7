"""Using the self object."""

version = 20


def up(self):
    """Read conf.py through self.config, as the original README's migrations do."""
    print(f"ROOT_DIR is {self.config.ROOT_DIR}; migrating {self.direction} to {self.version}")


def down(self):
    """The same, on the way down."""
    print(f"ROOT_DIR is {self.config.ROOT_DIR}; migrating {self.direction} from {self.version}")
