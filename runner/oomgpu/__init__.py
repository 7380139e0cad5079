"""oomgpu runner: builds UML kernels and initramfs images, boots scenarios,
parses KTAP and kernel logs, and reports."""
