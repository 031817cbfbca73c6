module lbc.local/pause

go 1.26
