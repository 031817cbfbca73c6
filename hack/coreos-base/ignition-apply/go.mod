module lbc.local/ignition-apply

go 1.22
